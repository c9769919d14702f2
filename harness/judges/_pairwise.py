"""A pairwise judge at work: each pair of answers judged in both orders, one outcome per pair.

For an example and a pair (arm, baseline), the judge reads the arm's answer first (order 0) and
then the baseline's first (order 1). Each verdict names the answer shown first (A), second (B)
or a tie; read back as "prefers the arm / the baseline / neither", the two verdicts give the
outcome for the arm: +1 when both prefer it, -1 when both prefer the baseline, 0 otherwise
(both tie, or they disagree: position bias counts as a tie). A verdict that cannot be read, or
a judge request that failed, makes the pair an evaluator error (outcome null). An arm that failed
to answer loses without the judge being asked (both failed: a tie).

Each pair is one line of judgements.jsonl, keyed by the judge and the texts it was shown; the
calibration file's labelled pairs are judged the same way (calibration: true, with the human
label), to measure agreement with people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.judges._base import Judge
from harness.judges._inputs import judged_text, question_text
from harness.judges._parse import JudgeParseError, clip, parse_preference, side, strip_echo
from harness.judges._template import render
from harness.store import example_uid
from harness.types import Example, GenerationParams, Request, ResponseFormat, Sample, stable_hash

TIE = "tie"
CALIBRATION_SET = "calibration"


@dataclass(frozen=True)
class PairTask:
    """One example and pair of arms to judge (or one labelled calibration pair)."""

    uid: str
    example_id: str
    golden_set: str
    arm: str
    baseline: str
    question: str
    reference: str
    answer_arm: str
    answer_baseline: str
    arm_error: str | None = None
    baseline_error: str | None = None
    calibration: bool = False
    human: str | None = None  # calibration: "A" (answer_a better), "B" or "tie"

    def key(self, judge_key: str) -> str:
        return stable_hash({"judge": judge_key, "question": self.question,
                            "reference": self.reference, "arm": self.answer_arm,
                            "baseline": self.answer_baseline, "arm_error": bool(self.arm_error),
                            "baseline_error": bool(self.baseline_error)})[:24]


class PairwiseJudge(Judge):
    pairwise = True

    def __init__(self, name: str, spec: Any, template: str, system: str,
                 identity: dict[str, Any], pairs: tuple[tuple[str, str], ...],
                 calibration: Path | None):
        super().__init__(name, spec, template, system, identity)
        self.pairs = pairs
        self.calibration = calibration

    # ---- what to judge -------------------------------------------------------------------------

    def tasks(self, examples: list[Example],
              answers: Mapping[tuple[str, str], Sample]) -> list[PairTask]:
        """Every (example, pair) whose two answers this run has, in the judge's golden sets."""
        wanted = self.spec.golden_sets
        out = []
        for arm, baseline in self.pairs:
            for ex in examples:
                if wanted is not None and ex.golden_set not in wanted:
                    continue
                uid = example_uid(ex.golden_set, ex.id)
                a, b = answers.get((arm, uid)), answers.get((baseline, uid))
                if a is None or b is None:
                    continue
                out.append(PairTask(
                    uid, ex.id, ex.golden_set, arm, baseline, question_text(ex),
                    self._reference(ex.reference), judged_text(a.output, self.spec.field),
                    judged_text(b.output, self.spec.field), a.response.error,
                    b.response.error))
        return out

    def _reference(self, reference: str) -> str:
        return judged_text(reference, self.spec.field) if self.spec.reference_guided else ""

    def calibration_tasks(self) -> list[PairTask]:
        """The labelled pairs of the calibration file (DataError naming the line if bad)."""
        if self.calibration is None:
            return []
        return [PairTask(example_uid(CALIBRATION_SET, item_id), item_id, CALIBRATION_SET, "A",
                         "B", question, self._reference(reference), a, b, calibration=True,
                         human=human)
                for item_id, question, reference, a, b, human
                in read_calibration(self.calibration, self.spec.reference_guided)]

    # ---- requests ------------------------------------------------------------------------------

    def prompt(self, task: PairTask, arm_first: bool) -> str:
        first, second = ((task.answer_arm, task.answer_baseline) if arm_first
                         else (task.answer_baseline, task.answer_arm))
        return render(self.template, {"question": task.question, "reference": task.reference,
                                      "answer_a": first, "answer_b": second,
                                      "criteria": self.spec.criteria})

    def request(self, prompt: str) -> Request:
        spec = self.spec
        fmt = None
        if spec.constrained:
            fmt = ResponseFormat(name="pairwise_verdict", json_schema={
                "type": "object", "additionalProperties": False,
                "required": ["winner", "reason"],
                "properties": {"winner": {"type": "string", "enum": ["A", "B", TIE]},
                               "reason": {"type": "string"}}})
        return Request(messages=({"role": "system", "content": self.system},
                                 {"role": "user", "content": prompt}),
                       params=GenerationParams(max_tokens=spec.max_tokens,
                                               temperature=spec.temperature, seed=spec.seed),
                       response_format=fmt)

    # ---- verdicts ------------------------------------------------------------------------------

    def judge(self, tasks: list[PairTask], judge_key: str) -> list[dict[str, Any]]:
        """One judgements.jsonl record per task; both orders of every live pair go to the
        engine in one call."""
        if self.client is None:
            raise RuntimeError(f"judge {self.name!r} is not bound to the run's engines")
        live = [t for t in tasks if not (t.arm_error or t.baseline_error)]
        prompts = [(self.prompt(t, True), self.prompt(t, False)) for t in live]
        requests = [self.request(p) for pair in prompts for p in pair]
        responses = self.client.generate(self.engines[0], requests) if requests else []
        verdicts = {id(t): (responses[2 * i], responses[2 * i + 1], prompts[i])
                    for i, t in enumerate(live)}
        return [self._record(t, judge_key, verdicts.get(id(t))) for t in tasks]

    def _record(self, task: PairTask, judge_key: str, verdicts: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "judge": self.name, "uid": task.uid, "example_id": task.example_id,
            "golden_set": task.golden_set, "arm": task.arm, "baseline": task.baseline,
            "orders": [], "outcome": None, "consistent": None, "error": None,
            "explanation": "", "calibration": task.calibration, "human": task.human,
            "judgement_key": task.key(judge_key)}
        if verdicts is None:  # an arm failed to answer: it loses, without asking the judge
            failed = [n for n, e in ((task.arm, task.arm_error),
                                     (task.baseline, task.baseline_error)) if e]
            record["outcome"] = 0 if len(failed) == 2 else -1 if task.arm_error else 1
            record["explanation"] = f"arm error of {' and '.join(failed)}: not judged"
            return record
        first, second, (prompt_first, prompt_second) = verdicts
        orders = [self._order(task.arm, task.baseline, first, prompt_first),
                  self._order(task.baseline, task.arm, second, prompt_second)]
        record["orders"] = orders
        errors = [o["error"] for o in orders if o["error"]]
        if errors:
            record["error"] = "; ".join(errors)
            return record
        prefers = [o["prefers"] for o in orders]
        record["consistent"] = prefers[0] == prefers[1]
        if record["consistent"]:
            record["outcome"] = 0 if prefers[0] == TIE else 1 if prefers[0] == task.arm else -1
            record["explanation"] = (f"both orders: {'a tie' if prefers[0] == TIE else prefers[0]}"
                                     f"; {orders[0]['reason']}")
        else:
            record["outcome"] = 0
            record["explanation"] = (f"the orders disagree ({task.arm} first: {prefers[0]}; "
                                     f"{task.baseline} first: {prefers[1]}): a tie")
        return record

    @staticmethod
    def _order(first: str, second: str, response: Any, prompt: str) -> dict[str, Any]:
        order: dict[str, Any] = {"first": first, "verdict": None, "prefers": None, "reason": "",
                                 "error": None, "text": clip(response.text or "", 300)}
        order_name = f"{first} first"
        if response.failed:
            order["error"] = f"{order_name}: the judge request failed: {response.error}"
            return order
        try:
            parsed = parse_preference(strip_echo(response.text, prompt))
        except JudgeParseError as exc:
            order["error"] = f"{order_name}: {exc}"
            return order
        order["verdict"] = parsed.winner
        order["prefers"] = {"A": first, "B": second}.get(parsed.winner, TIE)
        order["reason"] = parsed.reason
        return order


def read_calibration(path: Path, needs_reference: bool) -> list[tuple[str, ...]]:
    """(id, question, reference, answer_a, answer_b, human) for each line of a calibration
    file: JSONL with question, answer_a, answer_b, preference (a, b or tie), optional id and
    reference (needed when the judge is reference-guided)."""
    items = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the calibration file ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: malformed JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object")
        for key in ("question", "answer_a", "answer_b", "preference"):
            if not isinstance(row.get(key), str):
                raise DataError(f"{where}: expected '{key}' (text)")
        human = side(row["preference"])
        if human is None:
            raise DataError(f"{where}: preference must be a, b or tie, got "
                            f"{row['preference']!r}")
        reference = row.get("reference")
        if needs_reference and not isinstance(reference, str):
            raise DataError(f"{where}: the judge is reference-guided: expected 'reference'")
        item_id = str(row.get("id", f"line-{number}"))
        if item_id in seen:
            raise DataError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        items.append((item_id, row["question"], reference or "", row["answer_a"],
                      row["answer_b"], human))
    if not items:
        raise DataError(f"{path}: the calibration file has no labelled pair")
    return items
