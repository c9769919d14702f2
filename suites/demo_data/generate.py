#!/usr/bin/env python3
"""Generate the Lumen City Transit (LCT) demo data for harness from the data files in facts/.

LCT is a fictional city transit operator, so a small model cannot know its facts: retrieval (RAG)
has to find them in the knowledge base, and fine-tuning can teach the strict answer format.

The data (facts/values.yaml: the fact base; facts/<topic>.yaml: each topic's facts and help page;
facts/general_guard.yaml, facts/casual.yaml; the template syntax is in README.md) becomes:

  golden_sets/transit_support.jsonl   held-out golden set, instruction format (80 examples)
  golden_sets/general_guard.jsonl     easy general questions, chat format (30 examples)
  suites/demo_data/train.jsonl        adapter training set, chat format (400 examples)
  suites/demo_data/knowledge/*.md     help-centre pages for RAG

Every fact carries separate question phrasings for the golden set and for training, so the two
sets never share a question; `check_disjoint()` asserts it (exact match after normalisation, and
no near-duplicates by token Jaccard). Standard library plus PyYAML, seeded: running this script
again rewrites every file byte-identically.

    python suites/demo_data/generate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
import random
import re
import string
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FACTS_DIR = HERE / "facts"
KNOWLEDGE = "suites/demo_data/knowledge"  # output paths are relative to the repository root

TOPICS = ["fares", "passes", "schedules", "routes", "accessibility", "bikes", "lost_and_found",
          "refunds", "pets_luggage", "night_service"]
PAGES = [*TOPICS, "about_lct"]
GOLDEN_PER_TOPIC = 8
GOLDEN_HARD_PER_TOPIC = 3
TRAIN_PER_TOPIC = 40
GUARD_SIZE = 30
MAX_ANSWER_WORDS = 30
# The brief asks that no training question be a near-duplicate (token Jaccard >= 0.9) of a golden
# question; we hold the data to a stricter bound.
NEAR_DUP_JACCARD = 0.8
FACT_KEYS = {"answer", "golden", "golden_hard", "train", "combines", "derived", "when"}


def load(name: str) -> Any:
    return yaml.safe_load((FACTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# The fact base: values.yaml plus what follows from it, and the template helpers
# --------------------------------------------------------------------------------------------


def cr(cents: int) -> str:
    """Render an amount of money, held in hundredths of a credit: 240 -> '2.40 credits'."""
    if cents == 100:
        return "1 credit"
    if cents % 100 == 0:
        return f"{cents // 100} credits"
    return f"{cents // 100}.{cents % 100:02d} credits"


def add_hours(hhmm: str, hours: int) -> str:
    h, m = (int(x) for x in hhmm.split(":"))
    return f"{(h + hours) % 24:02d}:{m:02d}"


def join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def only(items: list) -> Any:
    (item,) = items
    return item


def with_extras(line: dict) -> dict:
    """A line from values.yaml, plus the names templates use that follow from its fields."""
    stations, vehicle, mode = line["stations"], line["vehicle"], line["mode"]
    peak, offpeak = line["peak_every"], line["offpeak_every"]
    every = f"every {peak} minutes all day"
    if peak != offpeak:
        every = f"every {peak} minutes at peak times and every {offpeak} minutes off-peak"
    return {**line, "start": stations[0], "end": stations[-1], "middle": stations[1:-1],
            "vehicles": vehicle + ("es" if vehicle.endswith("s") else "s"),
            "a_mode": ("an " if mode[0] in "aeiou" else "a ") + mode, "every": every}


def fact_base(values: dict) -> dict[str, Any]:
    """The names templates can use: values.yaml, the network derived from it, the helpers."""
    lines = [with_extras(line) for line in values["LINES"]]
    metro_stations: list[str] = []
    for line in lines:
        if line["mode"] == "metro":
            metro_stations += [s for s in line["stations"] if s not in metro_stations]

    def lines_at(station: str) -> list[dict]:
        return [line for line in lines if station in line["stations"]]

    def step_free_neighbours(station: str) -> list[str]:
        """The nearest step-free stations either side of `station` on its metro line."""
        stops = next(ln["stations"] for ln in lines_at(station) if ln["mode"] == "metro")
        i = stops.index(station)
        return [s for s in (stops[i - 1], stops[i + 1]) if s not in values["NOT_STEP_FREE"]]

    def one_change_route(origin: str, dest: str) -> dict:
        """The first route from origin to dest with exactly one change."""
        for take in lines_at(origin):
            for change_to in lines_at(dest):
                if take is change_to:
                    continue
                for station in take["stations"]:
                    if station in change_to["stations"] and station not in (origin, dest):
                        return {"take": take, "change_at": station, "change_to": change_to}
        raise AssertionError(f"no one-change route from {origin} to {dest}")

    return {**values, "LINES": lines, "LINE": {line["name"]: line for line in lines},
            "METRO_STATIONS": metro_stations, "cr": cr, "add_hours": add_hours,
            "join": lambda items, sep=", ": sep.join(items), "join_and": join_and, "only": only,
            "lower": str.lower, "lines_at": lines_at, "step_free_neighbours": step_free_neighbours,
            "one_change_route": one_change_route}


# --------------------------------------------------------------------------------------------
# Templates, groups and conditions
# --------------------------------------------------------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b}
_FIELD = re.compile(r"\{([^{}]+)\}")


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    return _eval(ast.parse(expression.strip(), mode="eval").body, names)


def _eval(node: ast.AST, names: dict[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return names[name]
        case ast.Attribute(value=obj, attr=key):
            return _eval(obj, names)[key]
        case ast.Subscript(value=obj, slice=key):
            return _eval(obj, names)[_eval(key, names)]
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            return _BINARY[type(op)](_eval(left, names), _eval(right, names))
        case ast.Compare(left=left, ops=[op], comparators=[right]) if type(op) in _COMPARE:
            return _COMPARE[type(op)](_eval(left, names), _eval(right, names))
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, names)
        case ast.Call(func=ast.Name(id=helper), args=args, keywords=[]) if callable(names[helper]):
            return names[helper](*(_eval(arg, names) for arg in args))
        case ast.ListComp(elt=elt, generators=[ast.comprehension(target=ast.Name(id=var),
                                                                  iter=items, ifs=ifs)]):
            scopes = ({**names, var: item} for item in _eval(items, names))
            return [_eval(elt, scope) for scope in scopes if all(_eval(c, scope) for c in ifs)]
    raise ValueError(f"unsupported template expression: {ast.unparse(node)}")


def render(template: str, names: dict[str, Any]) -> str:
    return _FIELD.sub(lambda m: str(evaluate(m.group(1), names)), template)


def group_scopes(group: dict, names: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The names for each repetition of a group: one per `in` item, plus its `let` names."""
    bindings: list[dict] = [{}]
    if "for_each" in group:
        targets = [t.strip() for t in group["for_each"].split(",")]
        items = group["in"]
        items = evaluate(items, names) if isinstance(items, str) else items
        bindings = [dict(zip(targets, item if len(targets) > 1 else [item], strict=True))
                    for item in items]
    for bound in bindings:
        scope = {**names, **bound}
        for name, expression in group.get("let", {}).items():
            scope[name] = evaluate(expression, scope)
        yield scope


def fact_entries(entries: list[dict], names: dict) -> Iterator[tuple[dict, dict]]:
    """(fact entry, its names) for every fact in `entries`, groups expanded, in file order."""
    for entry in entries:
        if "do" in entry:
            for scope in group_scopes(entry, names):
                yield from fact_entries(entry["do"], scope)
        elif evaluate(entry.get("when", "True"), names):
            yield entry, names


def page_blocks(entries: str | list, names: dict) -> list[str]:
    """The Markdown blocks (paragraphs, headings, lists) of a page, groups expanded."""
    blocks: list[str] = []
    for entry in [entries] if isinstance(entries, str) else entries:
        if isinstance(entry, str):
            blocks.append(render(entry, names).strip())
        elif "do" in entry:
            inner = [block for scope in group_scopes(entry, names)
                     for block in page_blocks(entry["do"], scope)]
            blocks += [entry["join"].join(inner)] if "join" in entry else inner
        elif evaluate(entry["when"], names):
            blocks.append(render(entry["text"], names).strip())
    return blocks


def tidy_markdown(text: str) -> str:
    """Re-wrap every prose paragraph at 100 columns; headings and list items stay as they are."""
    blocks = []
    for block in text.strip().split("\n\n"):
        if block.startswith(("#", "- ")):
            blocks.append(block)
        else:
            flat = " ".join(block.split())
            blocks.append(textwrap.fill(flat, width=100, break_on_hyphens=False))
    return "\n\n".join(blocks) + "\n"


def page(doc: dict, names: dict) -> str:
    return tidy_markdown("\n\n".join(page_blocks(doc["page"], names)))


# --------------------------------------------------------------------------------------------
# Facts: an answer plus disjoint pools of question phrasings for the golden set and for training
# --------------------------------------------------------------------------------------------

Question = str | tuple[str, str]  # a question, or (instruction, input) for the golden set


@dataclass
class Fact:
    topic: str
    answer: str
    golden: list[Question] = field(default_factory=list)  # plain phrasings -> "easy"
    golden_hard: list[Question] = field(default_factory=list)  # unusual phrasings -> "hard"
    train: list[str] = field(default_factory=list)  # training phrasings, never in the golden set
    combines: bool = False  # needs two facts together: every golden use is "hard"
    derived: bool = False  # the answer computes a number that the knowledge base does not state


def make_fact(topic: str, entry: dict, names: dict) -> Fact:
    unknown = set(entry) - FACT_KEYS
    assert not unknown, f"{topic}: unknown keys {sorted(unknown)} in {entry}"

    def questions(key: str) -> list[Question]:
        """Phrasings; a golden one may be {instruction, input}, which becomes a tuple."""
        return [(render(q["instruction"], names), render(q["input"], names))
                if isinstance(q, dict) else render(q, names) for q in entry.get(key, [])]

    return Fact(topic, render(entry["answer"], names), questions("golden"),
                questions("golden_hard"), questions("train"), entry.get("combines", False),
                entry.get("derived", False))


def build_facts(docs: dict[str, dict], names: dict) -> list[Fact]:
    facts = [make_fact(topic, entry, scope) for topic in TOPICS
             for entry, scope in fact_entries(docs[topic]["facts"], names)]
    for fact in facts:
        words = len(fact.answer.split())
        assert words <= MAX_ANSWER_WORDS, f"{words} words: {fact.answer}"
        assert fact.golden or fact.golden_hard or fact.train, fact.answer
    return facts


def answer_json(fact: Fact) -> str:
    """The strict output format: one JSON object on one line, keys exactly topic and answer."""
    return json.dumps({"topic": fact.topic, "answer": fact.answer}, ensure_ascii=False)


def check_answers_grounded(facts: list[Fact], knowledge: str) -> None:
    """Every number, time and proper name an answer states must appear in the knowledge base."""
    flat = " ".join(knowledge.split())
    numbers = set(re.findall(r"\d+(?:[.:]\d+)?", flat))
    for fact in facts:
        if not fact.derived:
            for number in re.findall(r"\d+(?:[.:]\d+)?", fact.answer):
                assert number in numbers, f"{number!r} not in knowledge base: {fact.answer}"
        for sentence in re.split(r"(?<=[.:;])\s+", fact.answer):
            rest = sentence.split(" ", 1)[1] if " " in sentence else ""  # skip the capital
            for name in re.findall(r"\b[A-Z][a-zA-Z-]+(?: [A-Z][a-zA-Z-]+)*", rest):
                assert name in flat, f"{name!r} not in knowledge base: {fact.answer}"


# --------------------------------------------------------------------------------------------
# Style: casual variants used to enlarge the training set
# --------------------------------------------------------------------------------------------


def typo(text: str, rng: random.Random) -> str:
    """Swap two letters inside one longer lowercase word (names stay intact), as on a phone."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 5]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def casual(text: str, rng: random.Random, style: dict) -> str:
    """A casual variant that differs in words, not only in case or punctuation."""
    kind = rng.choice(["prefix", "suffix", "typo", "prefix+typo"])
    out = text
    if "typo" in kind:
        out = typo(out, rng)
    if "prefix" in kind:
        out = rng.choice(style["prefixes"]) + out[0].lower() + out[1:]
    if kind == "suffix":
        out = out.rstrip("?.!") + rng.choice(style["suffixes"])
    if rng.random() < 0.3:
        out = out.lower()
    return out


# --------------------------------------------------------------------------------------------
# Disjointness checks
# --------------------------------------------------------------------------------------------

_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def jaccard(a: str, b: str) -> float:
    sa, sb = set(normalise(a).split()), set(normalise(b).split())
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def golden_texts(example: dict) -> list[str]:
    texts = [example["instruction"]]
    if example["input"]:
        texts.append(f"{example['instruction']} {example['input']}")
    return texts


def check_disjoint(golden: list[dict], train: list[dict]) -> float:
    """Assert no training question equals or nearly equals a golden one; return the max Jaccard."""
    golden_q = [text for ex in golden for text in golden_texts(ex)]
    golden_norm = {normalise(q) for q in golden_q}
    assert len({normalise(ex["instruction"]) for ex in golden}) == len(golden), "golden repeats"
    train_q = [ex["messages"][0]["content"] for ex in train]
    assert len({normalise(q) for q in train_q}) == len(train_q), "training questions repeat"
    worst = 0.0
    for q in train_q:
        assert normalise(q) not in golden_norm, f"training question is in the golden set: {q}"
        for g in golden_q:
            score = jaccard(q, g)
            assert score < NEAR_DUP_JACCARD, f"near-duplicate ({score:.2f}): {q!r} ~ {g!r}"
            worst = max(worst, score)
    return worst


def check_outputs(answers: list[str]) -> None:
    for text in answers:
        obj = json.loads(text)
        assert list(obj) == ["topic", "answer"], text
        assert obj["topic"] in TOPICS, text
        assert "\n" not in text, text


# --------------------------------------------------------------------------------------------
# Building the sets
# --------------------------------------------------------------------------------------------


def build_golden(facts: list[Fact], rng: random.Random) -> list[dict]:
    """Per topic: GOLDEN_HARD_PER_TOPIC hard examples, the rest easy, each from a distinct fact."""
    rows: list[tuple[Fact, Question, str]] = []
    for topic in TOPICS:
        topic_facts = [f for f in facts if f.topic == topic]
        with_input = [(f, q) for f in topic_facts for q in f.golden + f.golden_hard
                      if isinstance(q, tuple)]
        combined = [(f, q) for f in topic_facts if f.combines for q in f.golden
                    if not isinstance(q, tuple)]
        unusual = [(f, q) for f in topic_facts if not f.combines for q in f.golden_hard
                   if not isinstance(q, tuple)]
        rng.shuffle(combined)
        rng.shuffle(unusual)
        used: list[int] = []
        chosen: list[tuple[Fact, Question, str]] = []
        # Hard: anything with an input first, then alternate combined facts and odd phrasings.
        queue = list(with_input)
        for pair in zip(combined, unusual, strict=False):
            queue += list(pair)
        queue += combined[len(unusual) :] + unusual[len(combined) :]
        for fact, q in queue:
            if len(chosen) == GOLDEN_HARD_PER_TOPIC:
                break
            if id(fact) not in used:
                used.append(id(fact))
                chosen.append((fact, q, "hard"))
        assert len(chosen) == GOLDEN_HARD_PER_TOPIC, f"{topic}: too few hard golden questions"
        easy = [f for f in topic_facts if not f.combines and f.golden and id(f) not in used]
        rng.shuffle(easy)
        for fact in easy[: GOLDEN_PER_TOPIC - GOLDEN_HARD_PER_TOPIC]:
            chosen.append((fact, rng.choice(fact.golden), "easy"))
        assert len(chosen) == GOLDEN_PER_TOPIC, f"{topic}: too few golden facts"
        rows += chosen
    rng.shuffle(rows)
    golden = []
    for i, (fact, q, difficulty) in enumerate(rows, start=1):
        instruction, input_text = q if isinstance(q, tuple) else (q, "")
        golden.append({"id": f"ts-{i:03d}", "instruction": instruction, "input": input_text,
                       "output": answer_json(fact), "tags": [fact.topic, difficulty],
                       "gold_doc_ids": [f"{fact.topic}.md"]})  # its help page, for RAG
    return golden


def build_train(facts: list[Fact], rng: random.Random, style: dict) -> list[dict]:
    """Per topic: every fact at least once (round robin), then casual variants to fill up."""
    rows: list[tuple[Fact, str]] = []
    for topic in TOPICS:
        topic_facts = [f for f in facts if f.topic == topic and f.train]
        rng.shuffle(topic_facts)
        pools = {id(f): rng.sample(f.train, len(f.train)) for f in topic_facts}
        candidates: list[tuple[Fact, str]] = []
        while any(pools.values()):  # round robin: every fact early, each phrasing once
            for fact in topic_facts:
                if pools[id(fact)]:
                    q = pools[id(fact)].pop()
                    candidates.append((fact, casual(q, rng, style) if rng.random() < 0.2 else q))
        base = [(f, q) for f in topic_facts for q in f.train]
        for _ in range(10):  # casual variants spread over all phrasings, if they run out
            for fact, q in rng.sample(base, len(base)):
                candidates.append((fact, casual(q, rng, style)))
        seen: set[str] = set()
        picked: list[tuple[Fact, str]] = []
        for fact, q in candidates:
            if normalise(q) not in seen and len(picked) < TRAIN_PER_TOPIC:
                seen.add(normalise(q))
                picked.append((fact, q))
        assert len(picked) == TRAIN_PER_TOPIC, f"{topic}: too few training phrasings"
        rows += picked
    rng.shuffle(rows)
    return [{"id": f"tr-{i:04d}",
             "messages": [{"role": "user", "content": q},
                          {"role": "assistant", "content": answer_json(fact)}],
             "tags": [fact.topic]}
            for i, (fact, q) in enumerate(rows, start=1)]


def build_guard(questions: list[dict]) -> list[dict]:
    assert len(questions) == GUARD_SIZE
    return [{"id": f"gg-{i:03d}",
             "messages": [{"role": "user", "content": q["question"]},
                          {"role": "assistant", "content": q["answer"]}],
             "tags": [q["tag"]]}
            for i, q in enumerate(questions, start=1)]


# --------------------------------------------------------------------------------------------
# Building, checking and writing every file
# --------------------------------------------------------------------------------------------


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def build() -> tuple[dict[str, str], str]:
    """Every output file's text by path relative to the repository root, and a summary."""
    docs = {name: load(name) for name in PAGES}
    names = fact_base(load("values"))
    facts = build_facts(docs, names)
    knowledge = {f"{KNOWLEDGE}/{name}.md": page(doc, names) for name, doc in docs.items()}
    check_answers_grounded(facts, "\n".join(knowledge.values()))

    rng = random.Random(0)
    golden = build_golden(facts, rng)
    train = build_train(facts, rng, load("casual"))
    guard = build_guard(load("general_guard")["questions"])
    check_outputs([ex["output"] for ex in golden])
    check_outputs([ex["messages"][1]["content"] for ex in train])
    worst = check_disjoint(golden, train)

    golden_topics = Counter(ex["tags"][0] for ex in golden)
    golden_hard = Counter(ex["tags"][0] for ex in golden if ex["tags"][1] == "hard")
    train_topics = Counter(ex["tags"][0] for ex in train)
    summary = [f"{'topic':<16}{'golden':>8}{'(hard)':>8}{'train':>8}"]
    summary += [f"{t:<16}{golden_topics[t]:>8}{golden_hard[t]:>8}{train_topics[t]:>8}"
                for t in TOPICS]
    summary += [f"{'total':<16}{len(golden):>8}{sum(golden_hard.values()):>8}{len(train):>8}",
                f"guard set: {len(guard)} examples; knowledge pages: {len(knowledge)}",
                f"facts: {len(facts)}; max train/golden token Jaccard: {worst:.2f}"]
    files = {"golden_sets/transit_support.jsonl": jsonl(golden),
             "golden_sets/general_guard.jsonl": jsonl(guard),
             "suites/demo_data/train.jsonl": jsonl(train), **knowledge}
    return files, "\n".join(summary)


def generate(out_dir: Path = REPO) -> str:
    """Build and check every file, write it under out_dir (the repository by default).

    Knowledge pages that the data no longer has are removed. Returns the summary table.
    """
    files, summary = build()
    stale = set((Path(out_dir) / KNOWLEDGE).glob("*.md")) - {Path(out_dir) / p for p in files}
    for old in sorted(stale):
        old.unlink()
    for rel, text in files.items():
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO,
                        help="write the files under this folder instead of the repository root")
    print(generate(parser.parse_args().out))


if __name__ == "__main__":
    main()
