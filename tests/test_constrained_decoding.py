"""Constrained decoding on prompt arms (`response_format`: a JSON Schema or a regex).

Load-time refusals (a schema that is not JSON Schema, a bad regex, an engine that cannot
constrain), the request and cache key an arm builds, the body the HTTP engines send (checked at
tests/fake_openai_server.py, which records every body), and a real vLLM CPU server (started once
for the module) enforcing both kinds where the unconstrained tiny model does not comply.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from harness.arms.base import ArmContext
from harness.arms.tuned import TunedArm
from harness.cli.main import cli
from harness.engines.openai import OpenAICompatEngine
from harness.engines.vllm import VLLMEngine
from harness.errors import ConfigError
from harness.spec.suite import load_suite
from harness.store import ResponseCache, load_run
from harness.types import AdapterRef, GenerationParams, Request, ResponseFormat, stable_hash
from tests.fake_openai_server import FakeOpenAIServer
from tests.test_vllm_engine import vllm_python, wait_gone  # noqa: F401  (a module fixture)

# The tiny model left alone answers these in prose: no JSON object, no code of this shape.
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 40},
                   "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
    "additionalProperties": False,
}
CODE = r"[A-Z]{3}-[0-9]{4}"
QUESTIONS = ["What is the capital of France?", "Give me a product code.",
             "What do bees make?"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def one_line_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert "Traceback" not in output
    return lines[0]


def write_suite(tmp_path: Path, arms: list[dict], **extra) -> Path:
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps({"id": f"q{i}", "instruction": q, "output": "x"})
                              + "\n" for i, q in enumerate(QUESTIONS)))
    suite = {"name": "strict", "golden_sets": [{"path": "golden.jsonl"}],
             "generation": {"max_tokens": 48},
             "engine": {"kind": "scripted", "default": "{user}"},
             "arms": arms, "scorers": ["exact_match"],
             "output": {"runs_dir": "runs", "reports_dir": "reports"}, **extra}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


# ---- load-time refusals ----------------------------------------------------------------------

BAD_FORMATS = {
    "schema-not-json-schema": ({"json_schema": {"type": "objekt"}},
                               ["arms[0].response_format.json_schema",
                                "not a valid JSON Schema (Draft202012) at $.type"]),
    "schema-invalid-under-its-draft": (
        {"json_schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                         "type": "object", "required": "answer"}},
        ["arms[0].response_format.json_schema", "(Draft7) at $.required",
         "is not of type 'array'"]),
    "unknown-draft": ({"json_schema": {"$schema": "https://example.com/my-draft"}},
                      ["unknown $schema 'https://example.com/my-draft'"]),
    "schema-file-missing": ({"json_schema_file": "absent.json"},
                            ["arms[0].response_format.json_schema_file", "file not found",
                             "absent.json"]),
    "schema-file-not-json": ({"json_schema_file": "broken.json"},
                             ["arms[0].response_format.json_schema_file", "broken.json is not "
                              "JSON"]),
    "schema-file-not-json-schema": ({"json_schema_file": "bad.schema.json"},
                                    ["bad.schema.json: not a valid JSON Schema",
                                     "$.properties.answer.type"]),
    "regex-does-not-compile": ({"regex": "[A-Z{3"},
                               ["arms[0].response_format.regex",
                                "not a valid regular expression"]),
    "two-kinds-at-once": ({"regex": "yes|no", "json_schema": SCHEMA},
                          ["arms[0].response_format", "exactly one of json_schema, "
                           "json_schema_file, regex; got json_schema, regex"]),
    "no-kind-at-all": ({"name": "answer"}, ["arms[0].response_format", "got none"]),
    "bad-name": ({"json_schema": SCHEMA, "name": "my answer"},
                 ["arms[0].response_format.name"]),
}


@pytest.mark.parametrize("case", list(BAD_FORMATS))
def test_a_bad_response_format_is_one_line_naming_file_line_and_field_exit_2(case, tmp_path):
    response_format, fragments = BAD_FORMATS[case]
    (tmp_path / "broken.json").write_text('{"type": "object",')
    (tmp_path / "bad.schema.json").write_text(json.dumps(
        {"type": "object", "properties": {"answer": {"type": 3}}}))
    path = write_suite(tmp_path, [{"name": "strict", "kind": "prompt",
                                   "response_format": response_format}],
                       engine={"kind": "vllm"})
    code, output = invoke("validate", str(path))
    assert code == 2, output
    line = one_line_error(output)
    assert re.search(r"suite\.yaml:\d+: arms\[0\]\.response_format", line), line
    for fragment in fragments:
        assert fragment in line, line


def test_constrained_decoding_on_an_engine_that_cannot_constrain_is_refused_at_load(tmp_path):
    path = write_suite(tmp_path, [{"name": "strict", "kind": "prompt",
                                   "response_format": {"json_schema": SCHEMA}}])
    code, output = invoke("validate", str(path))
    assert code == 2, output
    assert ("arms[0].response_format: arm 'strict' asks for json_schema constrained decoding, "
            "but engine 'default' (scripted) cannot do it; it supports: none"
            in one_line_error(output))


def test_a_regex_on_the_openai_engine_is_refused_naming_what_it_supports(tmp_path):
    path = write_suite(tmp_path, [{"name": "code", "kind": "prompt", "engine": "api",
                                   "response_format": {"regex": CODE}}],
                       engines={"api": {"kind": "openai", "url": "http://127.0.0.1:9",
                                        "model": "m-2024-01-01"}})
    with pytest.raises(ConfigError, match=r"arms\[0\]\.response_format: arm 'code' asks for "
                       r"regex constrained decoding, but engine 'api' \(openai\) cannot do it; "
                       r"it supports: json_schema$"):
        load_suite(path)


def test_a_tuned_arm_is_checked_against_its_engine_for_its_prompt_arm_s_constraint(tmp_path):
    path = write_suite(tmp_path, [
        {"name": "strict", "kind": "prompt", "engine": "vllm",
         "response_format": {"regex": CODE}},
        {"name": "tuned", "kind": "tuned", "adapter": "adapter", "prompt": "strict"},
    ], engines={"vllm": {"kind": "vllm"}})
    with pytest.raises(ConfigError, match=r"arms\[1\]\.engine: arm 'tuned' asks for regex "
                       r"constrained decoding, but engine 'default' \(scripted\)"):
        load_suite(path, require_adapters=False)


# ---- the arm's requests and the cache key ----------------------------------------------------

@pytest.fixture
def constrained_suite(tmp_path):
    (tmp_path / "answer.schema.json").write_text(json.dumps(SCHEMA))
    path = write_suite(tmp_path, [
        {"name": "plain", "kind": "prompt", "system_prompt": "Be brief."},
        {"name": "strict", "kind": "prompt", "system_prompt": "Be brief.",
         "response_format": {"json_schema_file": "answer.schema.json", "name": "answer"}},
        {"name": "code", "kind": "prompt", "response_format": {"regex": CODE}},
    ], engine={"kind": "vllm"})
    suite = load_suite(path)
    return ArmContext(suite, {})


def test_a_constrained_prompt_arm_puts_its_format_on_every_request_and_says_so(
        constrained_suite, default_model):
    arm = constrained_suite.arm("strict")
    golden = constrained_suite.suite.golden_sets[0]
    from harness.golden import load_golden_set

    examples = load_golden_set(constrained_suite.resolve(golden.path), name="golden").examples
    expected = ResponseFormat(json_schema=SCHEMA, name="answer")
    assert all(arm.build(e).response_format == expected for e in examples)
    assert arm.build(examples[0]).response_format.json_schema == SCHEMA  # read from the file
    assert arm.roles.constrained
    assert arm.describe()["response_format"] == {
        "kind": "json_schema", "name": "answer", "hash": stable_hash(expected.as_dict())[:16]}
    longer = arm.with_params(GenerationParams(max_tokens=99))
    assert longer.build(examples[0]).response_format == expected and longer.roles.constrained
    code = constrained_suite.arm("code")
    assert code.build(examples[0]).response_format == ResponseFormat(regex=CODE)
    assert code.describe()["response_format"]["regex"] == CODE
    plain = constrained_suite.arm("plain")
    assert plain.build(examples[0]).response_format is None and not plain.roles.constrained
    assert "response_format" not in plain.describe()  # unconstrained arms keep their identity
    # A tuned arm answering the constrained prompt keeps the constraint on its requests.
    adapter = AdapterRef(name="a", path="/nowhere", content_hash="c0ffee")
    tuned = TunedArm("tuned", adapter, arm)
    request = tuned.build(examples[0])
    assert request.response_format == expected and request.adapter == adapter
    assert tuned.roles.constrained and tuned.roles.has_adapter
    assert tuned.describe()["prompt"]["response_format"]["kind"] == "json_schema"
    # ... and the report's table of arms says so, from what the manifest records.
    from harness.manifest import ArmRecord
    from harness.report.context import _roles

    record = ArmRecord(name="tuned", kind="tuned", has_adapter=True, constrained=True,
                       detail=tuned.describe())
    assert _roles(record) == "adapter, constrained decoding (json_schema 'answer')"
    nested = {"prompt": {"prompt": {"response_format": code.describe()["response_format"]}}}
    assert _roles(ArmRecord(name="tuned-rag", kind="tuned", has_adapter=True, constrained=True,
                            detail=nested)) == "adapter, constrained decoding (regex)"


def test_the_cache_key_holds_the_response_format_and_is_unchanged_without_one():
    identity = {"kind": "vllm", "model": "m", "dtype": "bfloat16"}
    messages = ({"role": "user", "content": "hi"},)
    params = GenerationParams(max_tokens=8)
    plain = Request(messages=messages, params=params)
    # Unconstrained: exactly the key older versions computed, so existing caches stay valid.
    assert ResponseCache.key(identity, plain) == stable_hash({"engine": identity, "request": {
        "messages": list(messages), "params": params.as_dict(), "adapter": None}})
    keys = {ResponseCache.key(identity, Request(messages, params, response_format=rf))
            for rf in (None, ResponseFormat(json_schema=SCHEMA),
                       ResponseFormat(json_schema={**SCHEMA, "required": ["answer"]}),
                       ResponseFormat(json_schema=SCHEMA, name="other"),
                       ResponseFormat(regex=CODE), ResponseFormat(regex="[a-z]+"))}
    assert len(keys) == 6


# ---- what the HTTP engines send (a real local server that records bodies) --------------------

@pytest.fixture(scope="module")
def fake():
    with FakeOpenAIServer(model="fake-model-2024-01-01") as server:
        yield server


def test_a_suite_on_the_openai_engine_sends_openai_structured_outputs_and_reports_it(
        fake, tmp_path):
    fake.reset_records()
    path = write_suite(tmp_path, [
        {"name": "plain", "kind": "prompt", "engine": "api"},
        {"name": "strict", "kind": "prompt", "engine": "api",
         "response_format": {"json_schema": SCHEMA, "name": "answer"}},
    ], engines={"api": {"kind": "openai", "url": fake.url, "model": fake.model}})
    code, output = invoke("run", str(path))
    assert code in (0, 10, 11), output  # a verdict, whichever: the fake server only echoes
    bodies = {b["messages"][-1]["content"]: b for b in fake.requests if "response_format" in b}
    assert sorted(bodies) == sorted(QUESTIONS)  # the strict arm's 3 requests, and only those
    assert len(fake.requests) == 2 * len(QUESTIONS)
    assert all(b["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": SCHEMA, "strict": True}} for b in bodies.values())
    (run_dir,) = (tmp_path / "runs" / "strict").iterdir()
    manifest = load_run(run_dir).manifest
    assert manifest.arm("strict").constrained and not manifest.arm("plain").constrained
    report = next((tmp_path / "reports").glob("strict-*.md")).read_text()
    rows = {line.split("|")[1].strip(): line for line in report.splitlines()
            if line.startswith("| plain | prompt") or line.startswith("| strict | prompt")}
    assert "constrained decoding (json_schema 'answer')" in rows["strict"]
    assert "constrained" not in rows["plain"]


def test_the_vllm_engine_sends_vllm_structured_outputs_for_a_schema_and_a_regex(fake):
    fake.reset_records()
    engine = VLLMEngine(fake.model, mode="attached", url=fake.url, retries=0)
    ask = ({"role": "user", "content": "hi"},)
    params = GenerationParams(max_tokens=8)
    engine.generate([Request(ask, params, response_format=ResponseFormat(json_schema=SCHEMA)),
                     Request(ask, params, response_format=ResponseFormat(regex=CODE)),
                     Request(ask, params)])
    engine.close()
    sent = [b.get("structured_outputs") for b in fake.requests]
    assert sorted(sent, key=str) == sorted([{"json": SCHEMA}, {"regex": CODE}, None], key=str)
    assert not any("response_format" in b or "guided_regex" in b for b in fake.requests)


def test_an_http_engine_asked_for_a_constraint_it_cannot_send_refuses_before_sending(fake):
    fake.reset_records()
    engine = OpenAICompatEngine(url=fake.url, model=fake.model, identity={"kind": "openai"})
    request = Request(({"role": "user", "content": "hi"},), GenerationParams(max_tokens=4),
                      response_format=ResponseFormat(regex=CODE))
    with pytest.raises(ConfigError, match="cannot constrain output to a regex; it supports: "
                       "json_schema"):
        engine.generate([request])
    assert fake.requests == []


# ---- a real vLLM server enforcing the constraint ---------------------------------------------

@pytest.fixture(scope="module")
def vllm_server(vllm_python, default_model, tmp_path_factory):  # noqa: F811
    engine = VLLMEngine(default_model, python=vllm_python, max_model_len=1024,
                        log_dir=tmp_path_factory.mktemp("vllm-logs"), concurrency=16)
    engine.start()
    pid = engine.server.pid
    yield engine
    engine.close()
    assert wait_gone([pid]) == [], "the managed vLLM server outlived close()"


def _schema_ok(text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


@pytest.mark.vllm
def test_a_suite_on_vllm_gets_schema_valid_json_and_regex_matches_only_where_constrained(
        vllm_server, tmp_path):
    (tmp_path / "answer.schema.json").write_text(json.dumps(SCHEMA))
    path = write_suite(tmp_path, [
        {"name": "plain", "kind": "prompt"},
        # Room for the whitespace the grammar allows: JSON cut off by max_tokens is invalid.
        {"name": "strict", "kind": "prompt", "generation": {"max_tokens": 96},
         "response_format": {"json_schema_file": "answer.schema.json", "name": "answer"}},
        {"name": "code", "kind": "prompt", "response_format": {"regex": CODE}},
    ], engine={"kind": "vllm", "mode": "attached", "url": vllm_server.base_url},
        generation={"max_tokens": 32},
        scorers=[{"name": "schema", "kind": "json_schema",
                  "options": {"schema_file": "answer.schema.json"}},
                 {"name": "code", "kind": "regex",
                  "options": {"pattern": CODE, "full_match": True}}])
    code, output = invoke("run", str(path))
    assert code in (0, 10, 11), output
    (run_dir,) = (tmp_path / "runs" / "strict").iterdir()
    run = load_run(run_dir)
    assert run.complete and run.responses["error"].isna().all()
    texts = {(r.arm, r.example_id): r.text for r in run.responses.itertuples()}
    for i in range(len(QUESTIONS)):
        assert _schema_ok(texts["strict", f"q{i}"]), texts["strict", f"q{i}"]
        assert re.fullmatch(CODE, texts["code", f"q{i}"]), texts["code", f"q{i}"]
        # Left alone, the same model complies with neither: the constraint did the work.
        assert not _schema_ok(texts["plain", f"q{i}"]), texts["plain", f"q{i}"]
        assert not re.fullmatch(CODE, texts["plain", f"q{i}"]), texts["plain", f"q{i}"]
    means = run.scores.groupby(["arm", "scorer"])["value"].mean()
    assert means["strict", "schema"] == 1.0 and means["code", "code"] == 1.0
    assert means["plain", "schema"] == 0.0 and means["plain", "code"] == 0.0
    report = next((tmp_path / "reports").glob("strict-*.md")).read_text()
    assert "constrained decoding (json_schema 'answer')" in report
    assert "constrained decoding (regex)" in report


@pytest.mark.vllm
def test_a_json_schema_sent_the_openai_way_is_enforced_by_a_vllm_server(vllm_server):
    engine = OpenAICompatEngine(url=vllm_server.base_url, model=vllm_server.base_model_name,
                                identity={"kind": "openai"})
    params = GenerationParams(max_tokens=96)
    asks = [({"role": "user", "content": q},) for q in QUESTIONS[:2]]
    constrained = engine.generate([Request(m, params, response_format=ResponseFormat(
        json_schema=SCHEMA, name="answer")) for m in asks])
    plain = engine.generate([Request(m, params) for m in asks])
    assert all(_schema_ok(r.text) for r in constrained), [r.text for r in constrained]
    assert not any(_schema_ok(r.text) for r in plain), [r.text for r in plain]
