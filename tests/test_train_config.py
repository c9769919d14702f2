"""Training configs: standalone YAML or a suite's train section, with file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import ConfigError
from harness.spec.train import TrainConfig
from harness.train.job import load_train_job


def write_train_yaml(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.jsonl"
    if not data.exists():
        data.write_text(json.dumps({"instruction": "Hi?", "output": "Hello."}) + "\n")
    config = {"name": "tiny-adapter", "data": "train.jsonl", **fields}
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_defaults_are_4bit_qlora_with_a_rank_vllm_serves():
    config = TrainConfig(name="a", data="d.jsonl")
    assert config.quantization == "nf4"
    assert config.lora.r == 16
    assert config.lora.target_modules == ["all-linear"]


def test_standalone_config_resolves_paths_relative_to_its_file(tmp_path, monkeypatch):
    path = write_train_yaml(tmp_path / "cfg", golden_sets=[{"path": "gold.jsonl"}],
                            system_prompt="Be brief.")
    (tmp_path / "cfg" / "gold.jsonl").write_text(
        json.dumps({"instruction": "Q?", "output": "A."}) + "\n")
    monkeypatch.chdir(tmp_path)  # a different working directory must not matter
    job = load_train_job(path)
    assert job.data_path == (tmp_path / "cfg" / "train.jsonl").resolve()
    assert job.adapter_dir == (tmp_path / "cfg" / "adapters" / "tiny-adapter").resolve()
    assert job.checkpoint_dir.parent.name == ".checkpoints"
    assert [g.name for g in job.golden_sets] == ["gold"]
    assert job.system_prompt == "Be brief."
    assert job.base_spec == "default"


def test_a_suite_in_suites_folder_stores_adapters_next_to_it(tmp_path):
    job = load_train_job(write_train_yaml(tmp_path / "repo" / "suites"))
    assert job.output_dir == (tmp_path / "repo" / "adapters").resolve()


def test_max_steps_override_replaces_epochs(tmp_path):
    job = load_train_job(write_train_yaml(tmp_path, epochs=3), max_steps=5)
    assert job.config.max_steps == 5 and job.config.epochs is None


def test_unknown_field_names_line_and_suggests_the_right_one(tmp_path):
    path = write_train_yaml(tmp_path, learning_rat=0.001)
    with pytest.raises(ConfigError) as err:
        load_train_job(path)
    assert f"{path}:3: learning_rat: unknown field" in err.value.message
    assert "did you mean 'learning_rate'" in err.value.message


def test_rank_vllm_cannot_serve_is_refused_with_the_allowed_ranks(tmp_path):
    path = write_train_yaml(tmp_path, lora={"r": 1024})
    with pytest.raises(ConfigError) as err:
        load_train_job(path)
    assert "lora.r: rank 1024 is above the largest rank vLLM can serve (512)" in err.value.message
    assert "8, 16, 32" in err.value.message
    # vLLM serves any rank up to its --max-lora-rank (r=12 under 16), so 12 is fine.
    assert load_train_job(write_train_yaml(tmp_path, lora={"r": 12})).config.lora.r == 12


def test_epochs_and_max_steps_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="set epochs or max_steps, not both"):
        load_train_job(write_train_yaml(tmp_path, epochs=1, max_steps=10))


def test_missing_training_file_names_the_data_line(tmp_path):
    path = write_train_yaml(tmp_path, data="nope.jsonl")
    with pytest.raises(ConfigError) as err:
        load_train_job(path)
    assert f"{path}:2: data: training data file not found" in err.value.message


def test_all_linear_must_stand_alone(tmp_path):
    path = write_train_yaml(tmp_path, lora={"target_modules": ["all-linear", "q_proj"]})
    with pytest.raises(ConfigError, match="all-linear"):
        load_train_job(path)


def test_suite_train_section_uses_suite_golden_sets_and_prompt_arm(suite_factory, tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"instruction": "Hi?", "output": "Yo."}))
    path = suite_factory(train={"name": "t", "data": "train.jsonl",
                                "system_prompt_arm": "prompt"},
                         model={"base": "default"})
    job = load_train_job(path)
    assert [g.name for g in job.golden_sets] == ["tiny"]
    assert job.system_prompt == "Answer in one or two words."
    assert job.base_spec == "default"
    assert job.suite_name == "tiny"


def test_suite_train_section_errors_point_into_the_suite(suite_factory, tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"instruction": "Hi?", "output": "Yo."}))
    path = suite_factory(train={"name": "t", "data": "train.jsonl", "system_prompt_arm": "rag"})
    with pytest.raises(ConfigError) as err:
        load_train_job(path)
    assert "train.system_prompt_arm: 'rag' is not a prompt arm of this suite" in err.value.message


def test_suite_without_train_section_is_a_clear_error(suite_factory):
    with pytest.raises(ConfigError, match="has no `train` section"):
        load_train_job(suite_factory())


def test_cli_bad_rank_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(write_train_yaml(tmp_path, lora={"r": 600}))])
    assert result.exit_code == 2
    assert "rank 600" in one_line_error(result)


def test_cli_target_module_the_model_lacks_exits_2_with_one_line(tmp_path):
    path = write_train_yaml(tmp_path, lora={"target_modules": ["q_proj", "query_key_value"]})
    result = CliRunner().invoke(cli, ["train", str(path)])
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "no linear layer named 'query_key_value'" in line
    assert "q_proj" in line and "gate_proj" in line  # lists what the model has


def test_cli_existing_adapter_is_not_overwritten_without_force(tmp_path):
    path = write_train_yaml(tmp_path)
    (tmp_path / "adapters" / "tiny-adapter").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["train", str(path)])
    assert result.exit_code == 2
    assert "already exists; pass --force" in one_line_error(result)
