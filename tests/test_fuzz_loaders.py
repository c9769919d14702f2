"""Bad input, fuzzed: any suite, golden set, training config or training set yields a valid
object or one clear error line with a documented exit code; never a traceback or a hang.

Inputs are drawn by hypothesis: valid files mutated (a value replaced by anything JSON can
hold, a field dropped, an unknown field added), free-form YAML values, and raw bytes. Each
loader is tried on FUZZ_EXAMPLES inputs (HARNESS_FUZZ_EXAMPLES raises it), each within a
deadline.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.golden import load_golden_set
from harness.spec.suite import load_suite
from harness.train.job import load_train_job
from harness.train.prepare import load_and_guard

FUZZ_EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "150"))
DOCUMENTED_CODES = {2, 3, 4, 5, 6, 7}
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=3000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10)

WORDS = ["name", "kind", "path", "arms", "engine", "engines", "model", "base", "prompt",
         "adapter", "scorers", "gates", "type", "arm", "baseline", "max_drop", "golden_sets",
         "guard", "options", "field", "min", "url", "cost", "train", "data", "lora", "r", "0",
         "prompt", "tuned", "local", "openai", "scripted", "vllm", "all", "2 points"]
keys = st.sampled_from(WORDS) | st.text(max_size=6)

BASE_SUITE = {
    "name": "fuzz",
    "golden_sets": [{"path": "golden.jsonl"}, {"path": "guard.jsonl", "guard": True}],
    "engine": {"kind": "scripted", "default": "{user}"},
    "engines": {"other": {"kind": "openai", "url": "http://127.0.0.1:9", "model": "m"}},
    "arms": [{"name": "prompt", "kind": "prompt", "system_prompt": "Be brief.",
              "few_shot": [{"user": "hi", "assistant": "hello"}]},
             {"name": "other", "kind": "prompt", "engine": "other"}],
    "scorers": ["exact_match", {"name": "f1", "kind": "token_f1", "options": {"field": "a"}}],
    "gates": [{"type": "beats", "arm": "other", "baseline": "prompt"},
              {"type": "not_worse", "arm": "other", "baseline": "prompt", "max_drop": "2 points"}],
    "cost": {"input_per_million_tokens": 1.0},
    "train": {"name": "t", "data": "train.jsonl", "lora": {"r": 8}},
}
GOLDEN_LINE = {"id": "q1", "instruction": "say hi", "input": "", "output": "hi", "tags": ["a"]}
CHAT_LINE = {"id": "c1", "messages": [{"role": "user", "content": "hi"},
                                      {"role": "assistant", "content": "hello"}]}


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths_of(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, base: Any) -> Any:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in paths_of(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values | st.sampled_from(WORDS))
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(json_values)
    return doc


def workdir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))
    (folder / "golden.jsonl").write_text(json.dumps(GOLDEN_LINE) + "\n")
    (folder / "guard.jsonl").write_text(json.dumps(CHAT_LINE) + "\n")
    (folder / "train.jsonl").write_text(json.dumps({**CHAT_LINE, "id": "t1", "messages": [
        {"role": "user", "content": "train me"}, {"role": "assistant", "content": "ok"}]})
        + "\n")
    return folder


def dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return json.dumps(doc, default=str)


def assert_clean(call, *args) -> str:
    """The loader returns, or raises one documented HarnessError on one line."""
    try:
        call(*args)
    except HarnessError as exc:
        assert exc.exit_code in DOCUMENTED_CODES, (exc.exit_code, exc.message)
        assert exc.message and "\n" not in exc.message.strip(), exc.message
        assert "Traceback" not in exc.message
        return "error"
    return "ok"


def test_the_unmutated_inputs_are_valid():
    folder = workdir()
    (folder / "suite.yaml").write_text(dump(BASE_SUITE))
    load_suite(folder / "suite.yaml", require_adapters=False)
    load_train_job(folder / "suite.yaml")


@FUZZ
@given(doc=mutated(BASE_SUITE))
def test_fuzzed_suites_load_or_give_one_clear_line(doc):
    folder = workdir()
    (folder / "suite.yaml").write_text(dump(doc))
    assert_clean(load_suite, folder / "suite.yaml")


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(
    lambda b: b.decode("latin-1")))
def test_fuzzed_suite_text_loads_or_gives_one_clear_line(text):
    folder = workdir()
    (folder / "suite.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
    assert_clean(load_suite, folder / "suite.yaml")


@FUZZ
@given(lines=st.lists(mutated(GOLDEN_LINE) | mutated(CHAT_LINE) | json_values, min_size=0,
                      max_size=5),
       raw=st.binary(max_size=60), ending=st.sampled_from(["\n", "", "\r\n"]),
       suffix=st.sampled_from([".jsonl", ".csv"]))
def test_fuzzed_golden_sets_load_or_give_one_clear_line(lines, raw, ending, suffix):
    folder = workdir()
    path = folder / f"set{suffix}"
    body = "".join(json.dumps(line, default=str) + "\n" for line in lines).encode()
    path.write_bytes(body + raw + ending.encode())
    assert_clean(load_golden_set, path)


@FUZZ
@given(doc=mutated({"name": "t", "data": "train.jsonl", "base": "default", "lora": {"r": 8},
                    "held_out": 0.1, "golden_sets": [{"path": "golden.jsonl"}],
                    "max_steps": 3}))
def test_fuzzed_training_configs_load_or_give_one_clear_line(doc):
    folder = workdir()
    (folder / "train.yaml").write_text(dump(doc))
    assert_clean(load_train_job, folder / "train.yaml")


@settings(FUZZ, deadline=10000)
@given(lines=st.lists(mutated(CHAT_LINE) | mutated(GOLDEN_LINE), min_size=0, max_size=5),
       raw=st.binary(max_size=40))
def test_fuzzed_training_sets_load_or_give_one_clear_line(lines, raw):
    folder = workdir()
    (folder / "train.yaml").write_text(dump({"name": "t", "data": "data.jsonl", "held_out": 1,
                                             "golden_sets": [{"path": "golden.jsonl"}]}))
    body = "".join(json.dumps(line, default=str) + "\n" for line in lines).encode()
    (folder / "data.jsonl").write_bytes(body + raw)

    def prepare(path):
        load_and_guard(load_train_job(path))

    assert_clean(prepare, folder / "train.yaml")
