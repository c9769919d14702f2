"""Model judges: rubric scores and pairwise preferences judged in both orders, on the tiny local
model, on an OpenAI-compatible HTTP server and on scripted judges whose position bias is known;
robust parsing of what judges answer; judge reliability in the decision and the report; and one
clear line for each way a judge can be misconfigured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.decision.analysis import TASKS
from harness.decision.evaluate import evaluate
from harness.judges._parse import JudgeParseError, parse_preference, parse_score, strip_echo
from harness.judges._rubric import aggregate
from harness.stats import WinCounts
from harness.store import load_run
from tests.cli_helpers import invoke, one_line
from tests.conftest import CAPITALS, REPO
from tests.fake_openai_server import FakeOpenAIServer

GOLDEN = [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"} for i in range(4)]
ARMS = [{"name": "p", "kind": "prompt", "system_prompt": "plain"},
        {"name": "q", "kind": "prompt", "system_prompt": "good"}]
PAIR_TEMPLATE = "Q: {question}\nA: {answer_a}\nB: {answer_b}"
RUBRIC_TEMPLATE = "Q: {question}\nRate: {answer}"


def write_suite(folder: Path, golden: list[dict] | None = None, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = golden or GOLDEN
    (folder / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = {"name": "judged", "golden_sets": [{"path": "golden.jsonl"}],
             "engine": {"kind": "scripted", "default": "{system}|{user}"}, "arms": ARMS,
             "scorers": ["exact_match"], "output": {"runs_dir": "runs", "reports_dir": "reports"},
             **fields}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def latest_run(folder: Path) -> Path:
    return sorted((folder / "runs" / "judged").iterdir())[-1]


def records(run_dir: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def pair_prompt(question: str, first: str, second: str) -> str:
    return PAIR_TEMPLATE.format(question=question, answer_a=first, answer_b=second)


# ---- parsing what judges answer ---------------------------------------------------------------


@pytest.mark.parametrize("answer, value, reason", [
    ('{"score": 4, "reason": "mostly right"}', 4, "mostly right"),
    ('Sure! Here is my verdict:\n```json\n{"score": "5", "reason": "exact"}\n```', 5, "exact"),
    ('{"Rating": 2, "explanation": "vague"} I hope this helps.', 2, "vague"),
    ("Score: 4\nThe answer is correct but terse.", 4, "The answer is correct but terse"),
    ("**Score:** 3/5 — partly right", 3, "— partly right"),
    ("Rating: [[5]]", 5, "Rating"),
    ("4", 4, ""),
    ("4/5 because it names the right city.", 4, "because it names the right city"),
    ("I would give it a score of 2.", 2, "I would give it a"),
    ('{"score": 3, "reason": "cut off by max_to', 3, "cut off by max_to"),
])
def test_rubric_answers_in_many_shapes_are_read(answer, value, reason):
    parsed = parse_score(answer, 1, 5)
    assert (parsed.value, parsed.reason) == (value, reason)


@pytest.mark.parametrize("answer, message", [
    ("", "the judge's answer is empty"),
    ("The answer is good and helpful.", "no score in the judge's answer"),
    ('{"score": 7, "reason": "great"}', "the judge's score 7 is outside the scale 1..5"),
    ("Score: 0", "the judge's score 0 is outside the scale 1..5"),
    ("Score: 8/10", "the judge scored 8/10, not on the 1..5 scale"),
    ('{"verdict": "good"}', "no score in the judge's answer"),
])
def test_malformed_rubric_answers_are_parse_errors_not_zeros(answer, message):
    with pytest.raises(JudgeParseError, match=message):
        parse_score(answer, 1, 5)


@pytest.mark.parametrize("answer, winner", [
    ('{"winner": "A", "reason": "more precise"}', "A"),
    ('```json\n{"winner": "Answer B"}\n```', "B"),
    ('{"preferred": "tie"}', "tie"),
    ("[[B]]", "B"),
    ("[[C]]", "tie"),
    ("Winner: A. Answer A names the right city.", "A"),
    ("**Verdict:** tie", "tie"),
    ("After reading both, Answer B is better because it is complete.", "B"),
    ("B", "B"),
    ("It is a tie.", "tie"),
    ('{"winner": "A", "reason": "trunc', "A"),
])
def test_pairwise_answers_in_many_shapes_are_read(answer, winner):
    assert parse_preference(answer).winner == winner


@pytest.mark.parametrize("answer", [
    "", "Both answers have merits.", "A good answer would name the city.",
    '{"winner": "the second one is nicer"}', "I cannot decide which is better.",
])
def test_malformed_pairwise_answers_are_parse_errors(answer):
    with pytest.raises(JudgeParseError):
        parse_preference(answer)


def test_a_judge_that_echoes_the_format_line_is_not_read_as_choosing_a():
    prompt = ('Which is better?\n[Answer A]\nParis\n[Answer B]\nRome\nReply with JSON:\n'
              '{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}')
    echoed = '{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}\nhmm'
    with pytest.raises(JudgeParseError):
        parse_preference(strip_echo(echoed, prompt))
    assert parse_preference(strip_echo(echoed + "\nWinner: B", prompt)).winner == "B"


def test_a_panel_takes_the_majority_else_the_lower_median():
    assert aggregate([4, 4, 2], "majority") == 4
    assert aggregate([5, 3, 2], "majority") == 3
    assert aggregate([5, 2], "majority") == 2
    assert aggregate([5, 2], "mean") == 3.5


# ---- pairwise: both orders, with scripted judges of known position bias -----------------------


@pytest.fixture(scope="module")
def pairwise_run(tmp_path_factory):
    """Arms p ("plain|say i") and q ("good|say i"), r failing on "say 1"; judges:
    - prefer: prefers q in both orders on q0..q2, answers "A" in both orders on q3 (a
      disagreement), and cannot be read on r's pairs; two labelled calibration pairs;
    - firsty: always chooses the answer shown first."""
    folder = tmp_path_factory.mktemp("pairwise")
    replies = {}
    for i in range(3):
        good, plain = f"good|say {i}", f"plain|say {i}"
        replies[pair_prompt(f"say {i}", good, plain)] = '{"winner": "A", "reason": "good wins"}'
        replies[pair_prompt(f"say {i}", plain, good)] = "Answer B is better."
    replies[pair_prompt("say 3", "good|say 3", "plain|say 3")] = "[[A]]"
    replies[pair_prompt("say 3", "plain|say 3", "good|say 3")] = "[[A]]"
    replies[pair_prompt("cq1", "right", "wrong")] = "A"  # agrees with the human (a)
    replies[pair_prompt("cq1", "wrong", "right")] = "B"
    replies[pair_prompt("cq2", "one", "two")] = "A"  # inconsistent: a tie; the human said b
    replies[pair_prompt("cq2", "two", "one")] = "A"
    (folder / "calib.jsonl").write_text(
        json.dumps({"id": "c1", "question": "cq1", "answer_a": "right", "answer_b": "wrong",
                    "preference": "a"}) + "\n"
        + json.dumps({"id": "c2", "question": "cq2", "answer_a": "one", "answer_b": "two",
                      "preference": "B"}) + "\n")
    suite = write_suite(
        folder,
        engines={"flaky": {"kind": "scripted", "default": "{system}|{user}",
                           "errors": ["say 1"]},
                 "judge": {"kind": "scripted", "replies": replies,
                           "default": "I cannot tell."},
                 "first": {"kind": "scripted", "default": '{"winner": "A"}'}},
        arms=[*ARMS, {"name": "r", "kind": "prompt", "engine": "flaky"}],
        judges={"prefer": {"kind": "pairwise", "engine": "judge", "template": PAIR_TEMPLATE,
                           "pairs": [["r", "p"]], "calibration": "calib.jsonl"},
                "firsty": {"kind": "pairwise", "engine": "first", "template": PAIR_TEMPLATE}},
        gates=[{"type": "beats", "arm": "q", "baseline": "p", "scorer": "prefer",
                "min_win_rate_lower": 0.0},
               {"type": "beats", "arm": "q", "baseline": "p", "scorer": "firsty",
                "min_win_rate_lower": 0.0}],
        max_error_rate=0.5)
    code, output = invoke("run", str(suite))
    run_dir = latest_run(folder)
    return folder, suite, code, output, run_dir, evaluate(load_run(run_dir), n_resamples=200)


def test_a_pair_wins_only_when_both_orders_prefer_it(pairwise_run):
    *_, ev = pairwise_run
    an = ev.analysis
    assert an.win(TASKS, "q", "p", "prefer").counts == WinCounts(3, 1, 0)
    assert an.win(TASKS, "p", "q", "prefer").counts == WinCounts(0, 1, 3)  # read either way


def test_each_pair_is_one_judgements_line_with_both_orders(pairwise_run):
    *_, run_dir, _ = pairwise_run
    lines = {(r["judge"], r["arm"], r["baseline"], r["example_id"]): r
             for r in records(run_dir, "judgements.jsonl")}
    won = lines[("prefer", "q", "p", "q0")]
    assert won["outcome"] == 1 and won["consistent"] is True
    assert [(o["first"], o["verdict"], o["prefers"]) for o in won["orders"]] == [
        ("q", "A", "q"), ("p", "B", "q")]
    split = lines[("prefer", "q", "p", "q3")]
    assert (split["outcome"], split["consistent"]) == (0, False)
    assert split["explanation"] == "the orders disagree (q first: q; p first: p): a tie"


def test_an_arm_that_failed_to_answer_loses_its_pair_without_asking_the_judge(pairwise_run):
    *_, run_dir, _ = pairwise_run
    lines = {(r["judge"], r["arm"], r["example_id"]): r for r in records(run_dir,
                                                                       "judgements.jsonl")}
    failed = lines[("prefer", "r", "q1")]
    assert failed["outcome"] == -1 and failed["orders"] == []
    assert failed["explanation"] == "arm error of r: not judged"
    unread = lines[("prefer", "r", "q0")]  # the judge's "I cannot tell." is no verdict
    assert unread["outcome"] is None and "no verdict (A, B or tie)" in unread["error"]


def test_reliability_counts_position_consistency_first_position_and_human_agreement(
        pairwise_run):
    *_, ev = pairwise_run
    prefer, firsty = ev.analysis.judges["prefer"], ev.analysis.judges["firsty"]
    assert (prefer.pairs, prefer.consistent, prefer.consistency) == (4, 3, 0.75)
    assert prefer.first_position_rate == 5 / 8  # q0..q2: A then B; q3: A, A
    assert (prefer.human_pairs, prefer.human_agree, prefer.human_agreement) == (2, 1, 0.5)
    assert (firsty.consistency, firsty.first_position_rate) == (0.0, 1.0)
    errors = ev.analysis.evaluator_errors["prefer"]
    assert (errors.failed, errors.examples) == (3, 8)  # r's three judged pairs


def test_a_judge_below_its_consistency_threshold_makes_its_gates_inconclusive(pairwise_run):
    folder, _, code, output, run_dir, ev = pairwise_run
    by_judge = {r.gate.scorer: r for r in ev.results}
    assert by_judge["firsty"].status == "inconclusive"
    assert by_judge["firsty"].reason == (
        "judge firsty: position consistency 0.00 (0 of 4 pairs judged alike in both orders) "
        "is below its min_consistency 0.5")
    assert by_judge["prefer"].status == "pass"  # 3 wins, 1 tie: above a bar of 0
    assert code == 11, output
    assert "warning: judge firsty: position consistency 0.00" in " ".join(output.split())
    report = (folder / "reports" / f"judged-{run_dir.name}.md").read_text()
    assert "> ⚠️ **Warning:** judge firsty: position consistency 0.00" in report
    assert "| prefer | judge (scripted) | q vs p |" in report
    summary = json.loads((folder / "reports" / f"judged-{run_dir.name}.json").read_text())
    assert {j["judge"]: j["position_consistency"] for j in summary["judges"]} == {
        "prefer": 0.75, "firsty": 0.0}


def test_a_human_agreement_threshold_makes_gates_inconclusive_below_it(pairwise_run, tmp_path):
    folder, suite, *_ = pairwise_run
    data = yaml.safe_load(suite.read_text())
    data["judges"]["prefer"]["min_human_agreement"] = 0.9
    data["judges"]["prefer"]["calibration"] = str(folder / "calib.jsonl")
    data["output"] = {"runs_dir": "runs", "reports_dir": "reports",
                      "cache": str(folder / "runs" / "cache.sqlite")}
    code, output = invoke("run", str(write_suite(tmp_path, **{k: v for k, v in data.items()
                                                              if k != "golden_sets"})))
    assert code == 11, output
    ev = evaluate(load_run(latest_run(tmp_path)), n_resamples=200)
    prefer = next(r for r in ev.results if r.gate.scorer == "prefer")
    assert prefer.status == "inconclusive"
    assert "agreement with the human labels 0.50 (1 of 2) is below its min_human_agreement " \
           "0.9" in prefer.reason


def test_in_a_ladder_a_beats_gate_on_a_judge_judges_each_rung_against_its_baseline(tmp_path):
    suite = write_suite(
        tmp_path, arms=[*ARMS, {"name": "s", "kind": "prompt", "system_prompt": "short"}],
        engines={"first": {"kind": "scripted", "default": '{"winner": "A"}'}},
        judges={"firsty": {"kind": "pairwise", "engine": "first", "template": PAIR_TEMPLATE}},
        ladder=["p", "q", "s"],
        gates=[{"type": "beats", "baseline": "p", "scorer": "firsty",
                "min_win_rate_lower": 0.0},
               {"type": "threshold", "scorer": "exact_match", "max": 1.0}])
    code, output = invoke("run", str(suite))
    run_dir = latest_run(tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["judges"][0]["pairs"] == [["q", "p"], ["s", "p"]]  # never p against p
    ev = evaluate(load_run(run_dir), n_resamples=200)
    rungs = {r.name: r for r in ev.ladder.rungs}
    assert rungs["q"].gates[0].status == "inconclusive"  # firsty is all position
    assert rungs["p"].gates[0].status == "n/a"
    assert (code, ev.ladder.chosen) == (0, "p"), output  # p clears its own gates first


# ---- rubric judges with scripted answers: parsing, evaluator errors, panels, the cache --------


@pytest.fixture(scope="module")
def rubric_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rubric")

    def prompt(arm: str, i: int) -> str:
        return RUBRIC_TEMPLATE.format(question=f"say {i}", answer=f"{arm}|say {i}")

    replies = {prompt("plain", 0): '```json\n{"score": 2, "reason": "plain"}\n```',
               prompt("good", 0): "Score: 5\nThe answer is good.",
               prompt("plain", 1): "4/5 - fine",
               prompt("good", 1): "I refuse to rate this."}
    suite = write_suite(
        folder,
        engines={"judge": {"kind": "scripted", "replies": replies,
                           "default": '{"score": 3, "reason": "ok"}'},
                 "j1": {"kind": "scripted", "default": '{"score": 4, "reason": "fine"}'},
                 "j2": {"kind": "scripted", "default": "Rating: 4"},
                 "j3": {"kind": "scripted", "default": "[[2]]"}},
        judges={"quality": {"engine": "judge", "template": RUBRIC_TEMPLATE},
                "panel": {"kind": "rubric", "engine": ["j1", "j2", "j3"]}},
        gates=[{"type": "threshold", "arm": "q", "scorer": "quality", "min": 1},
               {"type": "threshold", "arm": "q", "scorer": "panel", "min": 3}])
    code, output = invoke("run", str(suite))
    run_dir = latest_run(folder)
    return folder, suite, code, output, run_dir, evaluate(load_run(run_dir), n_resamples=200)


def test_a_rubric_judge_is_a_scorer_on_its_scale(rubric_run):
    *_, run_dir, ev = rubric_run
    raw = ev.analysis.raw["quality"]
    assert list(raw["p"][[0, 2, 3]]) == [2.0, 3.0, 3.0]
    assert list(raw["q"][[0, 2, 3]]) == [5.0, 3.0, 3.0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    quality = next(s for s in manifest["scorers"] if s["name"] == "quality")
    assert (quality["kind"], quality["range"]) == ("judge:rubric", [1.0, 5.0])
    rows = {(r["scorer"], r["arm"], r["example_id"]): r for r in records(run_dir,
                                                                        "scores.jsonl")}
    assert rows[("quality", "q", "q0")]["explanation"] == "The answer is good"


def test_an_unreadable_rubric_answer_is_an_evaluator_error_for_every_arm(rubric_run):
    *_, code, output, run_dir, ev = rubric_run
    rows = {(r["scorer"], r["arm"], r["example_id"]): r for r in records(run_dir,
                                                                        "scores.jsonl")}
    failed = rows[("quality", "q", "q1")]
    assert failed["value"] is None
    assert failed["error"].startswith("no score in the judge's answer: 'I refuse to rate")
    assert rows[("quality", "p", "q1")]["value"] == 4.0  # read, but left out with q's
    assert np.isnan(ev.analysis.raw["quality"]["p"][1])
    quality_gate = next(r for r in ev.results if r.gate.scorer == "quality")
    assert quality_gate.status == "inconclusive"
    assert quality_gate.reason.startswith("quality: evaluator errors left out 1 of 4")
    assert code == 11, output


def test_a_panel_of_judges_votes_by_majority(rubric_run):
    *_, run_dir, ev = rubric_run
    rows = [r for r in records(run_dir, "scores.jsonl") if r["scorer"] == "panel"]
    assert {r["value"] for r in rows} == {4.0}
    assert rows[0]["explanation"] == "majority of j1 4, j2 4, j3 2: fine"
    assert next(r for r in ev.results if r.gate.scorer == "panel").status == "pass"


def test_judge_answers_come_from_the_response_cache_on_a_second_run(rubric_run):
    folder, suite, *_ = rubric_run
    code, output = invoke("run", "--new-run", str(suite))
    assert code == 11, output  # the same verdict as the first run
    manifest = json.loads((latest_run(folder) / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["judge_calls"] == 32 and counts["cached_judge_calls"] == 32
    assert counts["generated_judge_calls"] == 0


# ---- on the tiny default model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """Two prompt arms and both judges on the local SmolLM2-135M, three examples."""
    folder = tmp_path_factory.mktemp("local")
    golden = [{"id": f"c{i}", "instruction": q, "output": a}
              for i, (q, a, _) in enumerate(CAPITALS[:3])]
    suite = write_suite(
        folder, golden=golden, engine={"kind": "local", "batch_size": 8},
        generation={"max_tokens": 8},
        arms=[{"name": "brief", "kind": "prompt", "system_prompt": "Answer in one word."},
              {"name": "chatty", "kind": "prompt", "system_prompt": "Answer politely."}],
        scorers=["contains"],
        judges={"correct": {"kind": "rubric", "reference_guided": True, "max_tokens": 24},
                "prefer": {"kind": "pairwise", "max_tokens": 24}},
        gates=[{"type": "beats", "arm": "brief", "baseline": "chatty", "scorer": "prefer"}])
    code, output = invoke("run", str(suite))
    return folder, suite, code, output, latest_run(folder)


def test_both_judges_run_on_the_local_default_model(local_run):
    folder, _, code, output, run_dir = local_run
    assert code in (0, 10, 11), output  # a verdict, whatever the tiny judge says
    rubric = [r for r in records(run_dir, "scores.jsonl") if r["scorer"] == "correct"]
    assert len(rubric) == 6
    for r in rubric:  # a score on the scale, or an evaluator error saying why: never a zero
        assert (r["value"] is not None and 1 <= r["value"] <= 5) or r["error"], r
    pairs = records(run_dir, "judgements.jsonl")
    assert len(pairs) == 3
    for r in pairs:
        assert r["outcome"] in (-1, 0, 1) or r["error"], r
        assert [o["first"] for o in r["orders"]] == ["brief", "chatty"]
    report = (folder / "reports" / f"judged-{run_dir.name}.md").read_text()
    assert "## Judges" in report and "| prefer" in report
    counts = json.loads((run_dir / "manifest.json").read_text())["counts"]
    # 6 rubric and 3 x 2 pairwise requests; two arms giving the same answer ask the same
    # rubric question, which is generated once.
    assert counts["judge_calls"] == 12 and counts["cached_judge_calls"] == 0
    assert 0 < counts["generated_judge_calls"] <= 12


def test_a_rerun_of_local_judges_is_served_from_the_cache_without_loading_a_model(local_run):
    folder, suite, *_ = local_run
    code, output = invoke("run", "--new-run", str(suite))
    assert code in (0, 10, 11), output
    counts = json.loads((latest_run(folder) / "manifest.json").read_text())["counts"]
    assert counts["cached_judge_calls"] == 12 and counts["generated_judge_calls"] == 0


# ---- on an OpenAI-compatible server -----------------------------------------------------------


def test_judges_on_an_openai_compatible_server_use_its_key_and_concurrency(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_JUDGE_KEY", "sekret")
    with FakeOpenAIServer(api_key="sekret") as rubric_server, FakeOpenAIServer() as pair_server:
        rubric_server.set_delay(0.05)
        rubric_server.fail_next(100, ("text", 'Here you go: {"score": 5, "reason": "fine"}'))
        pair_server.fail_next(100, ("text", "[[A]]"))
        endpoint = {"kind": "openai", "model": "fake-model", "retries": 0, "concurrency": 4}
        suite = write_suite(
            tmp_path,
            engines={"rj": {**endpoint, "url": rubric_server.url,
                            "api_key_env": "HARNESS_TEST_JUDGE_KEY"},
                     "pj": {**endpoint, "url": pair_server.base_url}},
            judges={"quality": {"engine": "rj"},
                    "prefer": {"kind": "pairwise", "engine": "pj", "reference_guided": True}},
            gates=[{"type": "beats", "arm": "q", "baseline": "p", "scorer": "prefer"}])
        code, output = invoke("run", str(suite))
        sent = rubric_server.requests
        assert len(sent) == 8 and len(pair_server.requests) == 8
        assert rubric_server.max_in_flight > 1  # the engine's concurrency, not one at a time
        assert set(rubric_server.headers_seen) == {"Bearer sekret"}
    assert code == 11, output  # prefer always says A: inconsistent, so inconclusive
    assert sent[0]["model"] == "fake-model" and sent[0]["messages"][0]["role"] == "system"
    assert "[Answer to rate]" in sent[0]["messages"][1]["content"]
    assert "[Reference answer]" in pair_server.requests[0]["messages"][1]["content"]
    run_dir = latest_run(tmp_path)
    values = {r["value"] for r in records(run_dir, "scores.jsonl") if r["scorer"] == "quality"}
    assert values == {5.0}
    assert {r["consistent"] for r in records(run_dir, "judgements.jsonl")} == {False}


def test_an_unreachable_judge_endpoint_is_one_line_and_exit_5(tmp_path):
    suite = write_suite(tmp_path, engines={"rj": {
        "kind": "openai", "url": "http://127.0.0.1:9", "model": "m", "retries": 0,
        "connect_timeout_s": 2, "abort_after": 1}}, judges={"quality": {"engine": "rj"}})
    code, output = invoke("run", str(suite))
    assert code == 5
    assert "no server answering at http://127.0.0.1:9" in one_line(
        output[output.index("error:"):])


def test_a_judge_engine_without_its_api_key_is_refused_at_load(tmp_path):
    suite = write_suite(tmp_path, engines={"rj": {
        "kind": "openai", "url": "http://127.0.0.1:9", "model": "m",
        "api_key_env": "HARNESS_NO_SUCH_JUDGE_KEY"}}, judges={"quality": {"engine": "rj"}})
    code, output = invoke("validate", str(suite))
    assert code == 2
    assert one_line(output).endswith("engines.rj.api_key_env: environment variable "
                                     "HARNESS_NO_SUCH_JUDGE_KEY is not set")


# ---- bad judge sections: one line each --------------------------------------------------------


@pytest.mark.parametrize("fields, expected", [
    ({"judges": {"helpful": {"engine": "nope"}}},
     "judges.helpful.engine: 'nope' is not an engine of this suite; expected one of: default"),
    ({"judges": {"helpful": {"template": "Rate this: {answer}"}}},
     "judges.helpful.template: the template lacks {question}: a rubric judge needs {answer}, "
     "{question}"),
    ({"judges": {"helpful": {"template": "{question} {answer} {score}"}}},
     "judges.helpful.template: the template names {score}, which a rubric judge does not fill; "
     "known: {answer}, {context}, {question}, {reference}, {rubric}, {scale_max}, {scale_min}"),
    ({"judges": {"helpful": {"template": "{question} {answer} {reference}"}}},
     "judges.helpful.template: the template shows {reference} but reference_guided is false: "
     "set `reference_guided: true`"),
    ({"judges": {"helpful": {"rubric": "Polite?", "template": "{question} {answer}"}}},
     "judges.helpful.template: the template lacks {rubric}: a rubric judge needs {answer}, "
     "{question}, {rubric}"),
    ({"judges": {"helpful": {"template_file": "no-such.txt"}}},
     "judges.helpful.template_file: template file not found: DIR/no-such.txt"),
    ({"judges": {"helpful": {"scale": [5, 1]}}},
     "judges.helpful.scale: the scale's first number must be below its second, got [5, 1]"),
    ({"judges": {"helpful": {"kind": "vibes"}}},
     "judges.helpful.kind: unknown judge kind 'vibes'; known: pairwise, rubric"),
    ({"judges": {"prefer": {"kind": "pairwise"}}},
     "judges.prefer: pairwise judge 'prefer' has no pair of arms to judge: use it in a beats "
     "gate (`scorer: prefer`) or list `pairs: [[arm, baseline]]`"),
    ({"judges": {"prefer": {"kind": "pairwise", "pairs": [["q", "zz"]]}}},
     "judges.prefer.pairs[0]: 'zz' is not an arm of this suite; expected one of: p, q"),
    ({"judges": {"prefer": {"kind": "pairwise", "pairs": [["q", "p"]]}},
      "gates": [{"type": "threshold", "arm": "q", "scorer": "prefer", "min": 0.5}]},
     "gates[0].scorer: 'prefer' is a pairwise judge: only a beats gate can use it, not a "
     "threshold gate"),
    ({"judges": {"exact_match": {}}},
     "judges.exact_match: 'exact_match' is already a scorer's name; a judge is used under its "
     "own name in gates, so give it another"),
    ({"judges": {"helpful": {"constrained": True}}, "engine": {"kind": "scripted"}},
     "judges.helpful.constrained: engine 'default' (scripted) cannot constrain output to a "
     "JSON schema; set `constrained: false`"),
])
def test_a_bad_judge_section_is_one_line_and_exit_2(tmp_path, fields, expected):
    code, output = invoke("validate", str(write_suite(tmp_path, **fields)))
    assert code == 2, output
    line = one_line(output)
    assert line.endswith(expected.replace("DIR", str(tmp_path))), line


def test_a_malformed_calibration_file_is_one_line_and_exit_3(tmp_path):
    (tmp_path / "calib.jsonl").write_text(json.dumps({"question": "q", "answer_a": "a",
                                                      "answer_b": "b", "preference": "a"})
                                          + "\n" + json.dumps({"question": "q", "answer_a": "a",
                                                               "answer_b": "b",
                                                               "preference": "maybe"}) + "\n")
    suite = write_suite(tmp_path, engines={"j": {"kind": "scripted", "default": "A"}},
                        judges={"prefer": {"kind": "pairwise", "engine": "j",
                                           "pairs": [["q", "p"]],
                                           "calibration": "calib.jsonl"}})
    code, output = invoke("run", str(suite))
    assert code == 3
    assert one_line(output[output.index("error:"):]).endswith(
        "calib.jsonl:2: preference must be a, b or tie, got 'maybe'")


def test_judge_kind_modules_import_only_the_standard_library_and_pydantic():
    script = ("import sys\nbefore = set(sys.modules)\nfrom harness.registry import JUDGES\n"
              "JUDGES.kinds()\nthird = {m.split('.')[0] for m in set(sys.modules) - before} - "
              "set(sys.stdlib_module_names)\nprint(sorted(third))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    allowed = {"harness", "pydantic", "pydantic_core", "typing_extensions", "annotated_types",
               "typing_inspection", "_distutils_hack"}
    third = {m for m in eval(out.stdout) if not m.startswith("_sysconfigdata")}
    assert third <= allowed, out.stdout


def test_the_suite_schema_lists_both_judge_kinds():
    code, output = invoke("schema")
    assert code == 0
    schema = json.loads(output)
    assert "judges" in schema["properties"]
    text = json.dumps(schema)
    assert '"rubric"' in text and '"pairwise"' in text and "min_consistency" in text


def test_a_rubric_judge_showing_context_is_refused_on_arms_that_do_not_retrieve(tmp_path):
    (tmp_path / "grounded.txt").write_text("{question}\n{context}\n{answer}\n")
    code, output = invoke("validate", str(write_suite(
        tmp_path, judges={"grounded": {"template_file": "grounded.txt"}})))
    assert code == 2
    assert one_line(output).endswith("judges.grounded: judge 'grounded' shows retrieved "
                                     "{context}, which arm(s) p, q do not give; limit it with "
                                     "`arms: [...]`")
