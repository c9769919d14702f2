"""Suite files: validation, line-numbered errors, paths relative to the suite, exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import ConfigError
from harness.spec.suite import load_suite


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def assert_one_line_error(output: str, *fragments: str) -> None:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in lines[0], output


def test_valid_suite_loads_with_paths_relative_to_the_suite(suite_factory, tiny_golden):
    suite = load_suite(suite_factory())
    assert suite.resolve(suite.golden_sets[0].path) == tiny_golden.resolve()
    assert suite.primary == "contains"  # the first scorer unless one is marked primary
    assert [s.name for s in suite.scorer_specs] == ["contains", "token_f1"]


def test_validate_command_accepts_a_good_suite(suite_factory):
    code, output = invoke("validate", str(suite_factory()))
    assert code == 0, output
    assert "golden set tiny: 4 examples" in output


def test_missing_suite_file(tmp_path):
    code, output = invoke("validate", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert_one_line_error(output, "absent.yaml", "file not found")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\narms:\n  - name: [unclosed\n")
    code, output = invoke("validate", str(path))
    assert code == 2
    assert_one_line_error(output, "s.yaml:", "YAML syntax error")


def test_unknown_field_names_the_line_and_suggests_a_fix(suite_factory):
    path = suite_factory(generation={"max_tokens": 12, "temprature": 0.5})
    code, output = invoke("validate", str(path))
    assert code == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "temprature" in text)
    assert_one_line_error(output, f"suite.yaml:{line}:", "generation.temprature",
                          "did you mean 'temperature'")


def test_wrong_type_says_what_was_expected(suite_factory):
    code, output = invoke("validate", str(suite_factory(generation={"max_tokens": "lots"})))
    assert code == 2
    assert_one_line_error(output, "generation.max_tokens", "valid integer", "'lots'")


def test_unknown_arm_kind_is_rejected(suite_factory):
    path = suite_factory(arms=[{"name": "x", "kind": "magic"}])
    code, output = invoke("validate", str(path))
    assert code == 2
    assert_one_line_error(output, "arms[0].kind", "unknown arm kind 'magic'", "prompt, rag, tuned")


def test_unknown_scorer_is_rejected_with_known_names(suite_factory):
    code, output = invoke("validate", str(suite_factory(scorers=["exact_mach"])))
    assert code == 2
    assert_one_line_error(output, "scorers[0]", "exact_mach", "exact_match")


def test_missing_golden_set_file_is_rejected(suite_factory):
    path = suite_factory(golden_sets=[{"path": "golden/absent.jsonl"}])
    code, output = invoke("validate", str(path))
    assert code == 2
    assert_one_line_error(output, "golden_sets[0].path", "absent.jsonl")


def test_empty_golden_set_is_a_data_error(suite_factory, tiny_golden):
    tiny_golden.write_text("")
    code, output = invoke("validate", str(suite_factory()))
    assert code == 3
    assert_one_line_error(output, "tiny.jsonl", "no examples")


def test_malformed_golden_line_is_a_data_error_with_line(suite_factory, tiny_golden):
    tiny_golden.write_text(tiny_golden.read_text() + "{not json\n")
    code, output = invoke("validate", str(suite_factory()))
    assert code == 3
    assert_one_line_error(output, "tiny.jsonl:5:", "malformed JSON")


def test_duplicate_golden_ids_are_a_data_error(suite_factory, tiny_golden):
    lines = tiny_golden.read_text().splitlines()
    tiny_golden.write_text("\n".join([*lines, lines[0]]) + "\n")
    code, output = invoke("validate", str(suite_factory()))
    assert code == 3
    assert_one_line_error(output, "duplicate example ids: q0")


def test_missing_model_folder_is_a_model_error_for_validate_and_run(suite_factory):
    path = suite_factory(model={"base": "./no-such-model"})
    for command in ("validate", "run"):  # validate refuses what run would refuse
        code, output = invoke(command, str(path))
        assert code == 4, (command, output)
        assert_one_line_error(output, "model.base", "no-such-model", "does not exist")


def test_tuned_arm_with_missing_adapter_folder_is_a_model_error_for_validate_and_run(
        suite_factory):
    path = suite_factory(arms=[{"name": "tuned", "kind": "tuned", "adapter": "adapters/none"}])
    for command in ("validate", "run"):  # validate refuses what run would refuse
        code, output = invoke(command, str(path))
        assert code == 4, (command, output)
        assert_one_line_error(output, "arms[0].adapter", "adapter folder not found")


def test_duplicate_arm_names_are_rejected(suite_factory):
    arm = {"name": "same", "kind": "prompt"}
    code, output = invoke("validate", str(suite_factory(arms=[arm, arm])))
    assert code == 2
    assert_one_line_error(output, "arms[1].name", "duplicate arm name")


def test_debug_flag_shows_the_traceback(suite_factory):
    result = CliRunner().invoke(cli, ["--debug", "validate", str(suite_factory(scorers=["nope"]))])
    assert isinstance(result.exception, ConfigError)


def test_schema_command_prints_the_json_schema():
    code, output = invoke("schema")
    assert code == 0
    schema = json.loads(output)
    assert {"name", "golden_sets", "arms", "scorers", "gates"} <= set(schema["properties"])


@pytest.mark.parametrize("suite_file", ["suites/demo.yaml", "suites/demo-vllm.yaml"])
def test_shipped_suites_are_valid(suite_file):
    from tests.conftest import REPO

    load_suite(REPO / suite_file, require_adapters=False)  # `harness train` makes the adapter


def test_unknown_scorer_option_is_rejected_at_validation(suite_factory):
    path = suite_factory(scorers=[{"name": "f1", "kind": "token_f1", "options": {"feild": "x"}}])
    code, output = invoke("validate", str(path))
    assert code == 2
    assert_one_line_error(output, "scorers[0]", "feild")


def test_adapter_trained_on_another_base_model_is_a_model_error(suite_factory, tmp_path):
    adapter = tmp_path / "adapters" / "foreign"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]}))
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    (adapter / "manifest.json").write_text(json.dumps(
        {"base_model": {"identity": "some-other-model@1"}}))
    path = suite_factory(arms=[{"name": "tuned", "kind": "tuned", "adapter": "adapters/foreign"}])
    code, output = invoke("run", str(path))
    assert code == 4
    assert_one_line_error(output, "trained on base model 'some-other-model@1'")
