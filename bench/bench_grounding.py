"""Where the groundedness threshold comes from: best cosine support of planted answer sentences
against passages of the demo knowledge base, per kind of sentence and per context unit.

    python bench/bench_grounding.py

Prints, for context units = sentences (the default), two-sentence windows and whole passages,
the range of support per group and how many sentences reach each candidate threshold. The
figures in docs/scorers.md ("Retrieval and grounding") come from this script.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.embedding import embed  # noqa: E402
from harness.scoring.grounding import split_sentences  # noqa: E402

KB = REPO / "suites" / "demo_data" / "knowledge"
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7)


def sections(file: str, *headings: str) -> str:
    """The `## heading` sections of a knowledge-base file, joined: a retrieved passage."""
    parts = re.split(r"(?m)^(?=## )", (KB / file).read_text(encoding="utf-8"))
    return "\n\n".join(p.strip() for p in parts if p.startswith("## ")
                       and p.splitlines()[0][3:].strip() in headings)


SETS = {
    "fares+passes+night": {
        "contexts": [sections("fares.md", "Adult single fares", "Transfers"),
                     sections("passes.md", "Daily fare cap", "Day Pass"),
                     sections("night_service.md", "Nightglow buses")],
        "supported": [
            "An adult single fare costs 2.40 credits with a Glow card.",
            "A paper single ticket costs 3 credits.",
            "With one fare you can change between metro, tram and bus for 90 minutes.",
            "You can switch lines free of charge for an hour and a half after your first tap.",
            "Paying with a contactless bank card costs the same as paying with a Glow card.",
            "A Day Pass is 7.50 credits for an adult and 3.75 credits for a child.",
            "Once you have spent 7.50 credits in a day on a Glow card, your remaining journeys "
            "that day are free.",
            "The N2 night bus goes from Central Exchange to Lumen Airport.",
            "Nightglow buses run every 20 minutes on Friday and Saturday nights.",
            "Paper tickets can be bought from ticket machines in metro stations.",
            "The Day Pass covers Nightglow buses until 04:00 the next morning.",
            "Night buses operate between 00:30 and 05:00."],
        "absent": [
            "Dogs must travel on a lead and ride free of charge.",
            "Lost items are kept at the lost property office for 30 days.",
            "Folding bicycles are allowed on all trains at any time.",
            "Wheelchair users can request ramp assistance at any station.",
            "Refunds for delays over 30 minutes are paid within five working days.",
            "The Amber Line trains run all night on weekends.",
            "Students must show their enrolment letter to the driver.",
            "Luggage larger than 80 centimetres is not allowed on buses."],
        "off_topic": [
            "Photosynthesis converts light energy into chemical energy.",
            "The Eiffel Tower is in Paris.", "Python is a popular programming language.",
            "The recipe needs two eggs and a cup of flour."],
        "changed_number": [
            "An adult single fare costs 3.40 credits with a Glow card.",
            "A paper single ticket costs 5 credits.",
            "With one fare you can change between metro, tram and bus for 30 minutes.",
            "A Day Pass is 9.50 credits for an adult.",
            "Nightglow buses run every 10 minutes on Friday and Saturday nights.",
            "Night buses operate between 01:30 and 06:00."],
        "negated": [
            "Contactless bank cards are charged more than a Glow card.",
            "You must pay again every time you change lines.",
            "The Day Pass is not valid on Nightglow buses.",
            "Paper single tickets are not sold at metro stations."],
        "generic": ["I hope this helps.", "Let me know if you have other questions.", "Yes.",
                    "Here is the answer.", "Please check the app.", "Tickets are available."],
    },
    "bikes+refunds (whole files)": {
        "contexts": [(KB / "bikes.md").read_text(encoding="utf-8"),
                     (KB / "refunds.md").read_text(encoding="utf-8")],
        "supported": [
            "You can take a full-size bike on the metro at weekends for free.",
            "Bikes are not permitted on buses or trams.", "Folded bikes can go on every service.",
            "E-scooters are not allowed on LCT services.",
            "A metro delay of 30 minutes or more gets a full refund.",
            "Claims must be made within 28 days.", "Bike lockers cost 1 credit a day.",
            "Punctuality figures come out every four weeks.",
            "Delay Repay money reaches your Glow card within five working days."],
        "absent": [
            "A Day Pass costs 7.50 credits.", "Nightglow buses run every 20 minutes on Fridays.",
            "Dogs travel free on a lead.", "Lost property is kept for 30 days.",
            "Wheelchair ramps are available at all stations.", "The N2 bus goes to the airport.",
            "Children under 5 travel free.",
            "Students get a reduced fare with a Student Glow card."],
    },
}


def units(contexts: list[str], unit: str) -> list[str]:
    sentences = [s for c in contexts for s in split_sentences(c)]
    if unit == "sentence":
        return sentences
    if unit == "window2":
        return sentences + [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
    return contexts


def main() -> None:
    totals: dict[tuple[str, str], list[float]] = {}
    for name, data in SETS.items():
        for unit in ("sentence", "window2", "chunk"):
            context = embed(units(data["contexts"], unit))
            for group, sentences in data.items():
                if group != "contexts":
                    best = np.clip(embed(sentences) @ context.T, 0, 1).max(axis=1)
                    totals.setdefault((unit, group), []).extend(best.tolist())
                    print(f"{name:28s} {unit:8s} {group:15s} " + " ".join(f"{b:.2f}" for b in best))
    print(f"\n{'unit':8s} {'group':15s} {'n':>3s} {'min':>5s} {'max':>5s}  "
          + "  ".join(f">={t:<4g}" for t in THRESHOLDS))
    for (unit, group), values in totals.items():
        arr = np.asarray(values)
        print(f"{unit:8s} {group:15s} {len(arr):3d} {arr.min():5.2f} {arr.max():5.2f}  "
              + "  ".join(f"{int((arr >= t).sum()):>6d}" for t in THRESHOLDS))


if __name__ == "__main__":
    main()
