"""The QLoRA trainer end to end on a handful of steps: adapter store, manifest, resume, merge.

One real 4-bit training run (SmolLM2-135M, bitsandbytes NF4 on CPU) is shared by the module;
the resume test makes its own, interrupted one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from transformers import TrainerCallback

from harness.adapters_io import check_vllm_compatible, load_adapter_ref
from harness.cli.main import cli
from harness.errors import ConfigError
from harness.train.job import load_train_job
from harness.train.manifest import REQUIRED_KEYS
from harness.train.trainer import train_adapter

REPO = Path(__file__).resolve().parent.parent
DEMO_TRAIN = REPO / "suites" / "demo_data" / "train.jsonl"
DEMO_GOLDEN = REPO / "golden_sets" / "transit_support.jsonl"
SYSTEM = "You are the support assistant of Lumen City Transit."


def write_config(folder: Path, name: str, n_examples: int = 40, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = DEMO_TRAIN.read_text().splitlines()[:n_examples]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    config = {"name": name, "data": "train.jsonl", "system_prompt": SYSTEM,
              "golden_sets": [{"path": str(DEMO_GOLDEN)}],
              "lora": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
              "max_steps": 4, "batch_size": 4, "max_length": 160, "save_steps": 2,
              "held_out": 4, "output_dir": "store",
              # One thread: the test machines are shared, and two threads fighting other jobs
              # for two cores run several times slower than one.
              "threads": 1, **fields}
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_model):
    folder = tmp_path_factory.mktemp("trained")
    job = load_train_job(write_config(folder, "tiny"))
    result = train_adapter(job, show_progress=False)
    return job, result


def test_adapter_folder_holds_exactly_what_the_store_promises(trained):
    job, result = trained
    assert result.adapter_dir == job.adapter_dir
    assert sorted(p.name for p in job.adapter_dir.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "loss_curve.png", "manifest.json"]
    assert (job.adapter_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    # Finished: no checkpoints to resume, no staging folder left behind.
    assert not job.checkpoint_dir.exists()
    assert [p.name for p in job.output_dir.iterdir() if p.name.startswith(".staging")] == []


def test_manifest_is_complete(trained):
    job, _result = trained
    m = json.loads((job.adapter_dir / "manifest.json").read_text())
    assert set(REQUIRED_KEYS) <= set(m)
    assert m["base_model"]["spec"] == "default"
    assert m["base_model"]["identity"].startswith("SmolLM2-135M-Instruct@")
    assert m["system_prompt"] == SYSTEM
    assert m["config"]["lora"]["r"] == 8 and m["config"]["max_steps"] == 4
    assert m["lora"]["target_modules"] == ["q_proj", "v_proj"]
    assert m["lora"]["quantization"] == "nf4"
    data = m["training_data"]
    assert (data["n_loaded"], data["n_train"], data["n_held_out"]) == (40, 36, 4)
    assert len(data["file_sha256"]) == 64 and len(data["hash"]) == 64
    assert len(m["example_hashes"]["prompt_normalized"]) == 36
    assert len(m["example_hashes"]["content"]) == 36
    assert m["leakage_check"]["golden_sets"][0]["n_examples"] == 80
    assert [h["step"] for h in m["loss_history"]] == [1, 2, 3, 4]
    assert m["eval_history"] and m["training"]["eval_loss"] is not None
    assert m["training"]["steps"] == 4 and m["training"]["wall_time_s"] > 0
    assert m["training"]["tokens"] > 0
    for package in ("torch", "transformers", "peft", "bitsandbytes"):
        assert m["package_versions"][package]
    # The recorded content hash is the one `harness run` will compute for the folder.
    assert m["weights"]["content_hash"] == load_adapter_ref(job.adapter_dir).content_hash


def test_adapter_is_loadable_by_vllm(trained):
    job, _ = trained
    assert check_vllm_compatible(job.adapter_dir, max_rank=8) == []
    config = json.loads((job.adapter_dir / "adapter_config.json").read_text())
    assert config["r"] == 8 and not config.get("modules_to_save")
    assert not config.get("use_dora")


def test_vllm_check_flags_adapters_it_could_not_serve(trained, tmp_path):
    job, _ = trained
    for change, expected in [({"r": 1024}, "rank r=1024"), ({"use_dora": True}, "DoRA"),
                             ({"modules_to_save": ["lm_head"]}, "modules_to_save")]:
        copy = tmp_path / f"copy-{next(iter(change))}"
        shutil.copytree(job.adapter_dir, copy)
        config = json.loads((copy / "adapter_config.json").read_text())
        (copy / "adapter_config.json").write_text(json.dumps({**config, **change}))
        assert any(expected in p for p in check_vllm_compatible(copy)), change


def test_existing_adapter_is_kept_without_force(trained):
    job, _ = trained
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        train_adapter(job, show_progress=False)


def test_adapters_list_and_show_describe_the_store(trained):
    job, _ = trained
    result = CliRunner().invoke(cli, ["adapters", "list", "--dir", str(job.output_dir)])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "nf4" in result.output
    result = CliRunner().invoke(cli, ["adapters", "show", "tiny", "--dir", str(job.output_dir)])
    assert result.exit_code == 0, result.output
    assert SYSTEM in result.output and "compatible" in result.output


def test_merge_into_16bit_base_keeps_the_adapters_outputs(trained, tmp_path):
    """Merged weights compute what base + adapter compute. In float32 the greedy answers are
    identical; in bfloat16 the merge rounds W + BA once where the adapter rounds Wx and B(Ax)
    apart, so near-tied tokens may flip later in an answer: there the next-token distribution
    must agree (same top token, logits within bf16 rounding)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.train.merge import merge_adapter

    job, result = trained
    base_path = result.manifest["base_model"]["path"]
    tok = AutoTokenizer.from_pretrained(base_path)
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Bikes on trams?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def greedy(model) -> list[int]:
        with torch.no_grad():
            out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
        return out[0].tolist()

    def next_logits(model) -> torch.Tensor:
        with torch.no_grad():
            return model(**prompt).logits[0, -1].float()

    for dtype, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
        merged_dir = merge_adapter(job.adapter_dir, tmp_path / f"merged-{name}", dtype=name)
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
        with_adapter = PeftModel.from_pretrained(base, str(job.adapter_dir))
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=dtype)
        if dtype == torch.float32:
            assert greedy(merged) == greedy(with_adapter)
        a, m = next_logits(with_adapter), next_logits(merged)
        assert int(a.argmax()) == int(m.argmax()), name
        assert float((a - m).abs().max()) < 0.1 * float(a.abs().max()), name


def test_merge_into_4bit_is_refused_with_one_line(trained, tmp_path):
    job, _ = trained
    result = CliRunner().invoke(cli, ["adapters", "merge", str(job.adapter_dir), "--out",
                                      str(tmp_path / "m"), "--dtype", "4bit"])
    assert result.exit_code == 4
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "refusing to merge into a 4-bit base" in lines[0], result.output
    assert not (tmp_path / "m").exists()


class _Interrupt(TrainerCallback):
    """A callback that stops training like Ctrl-C does, after step `at`."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt


def test_resume_continues_an_interrupted_training_from_its_checkpoint(tmp_path, default_model):
    job = load_train_job(write_config(tmp_path, "resumable", held_out=0))
    with pytest.raises(KeyboardInterrupt):
        train_adapter(job, show_progress=False, callbacks=[_Interrupt(at=3)])
    assert sorted(p.name for p in job.checkpoint_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not job.adapter_dir.exists()
    # Checkpoints are never silently discarded...
    with pytest.raises(ConfigError, match="pass --resume to continue"):
        train_adapter(job, show_progress=False)
    # ...nor resumed under a different config.
    changed = load_train_job(write_config(tmp_path, "resumable", held_out=0,
                                          learning_rate=0.001))
    with pytest.raises(ConfigError, match="different training config"):
        train_adapter(changed, resume=True, show_progress=False)

    result = train_adapter(job, resume=True, show_progress=False)
    training = result.manifest["training"]
    assert training["resumed_from_step"] == 2
    assert training["steps"] == 4
    # The loss history spans the whole training, restored from the checkpoint.
    assert [h["step"] for h in result.manifest["loss_history"]] == [1, 2, 3, 4]
    assert not job.checkpoint_dir.exists()


def test_answer_only_loss_equals_the_models_own_loss_on_the_same_batch(tmp_path):
    # The trainer skips logits at prompt positions; the loss must be exactly the model's
    # masked cross-entropy, which ignores prompt tokens (label -100) by definition.
    import torch

    from harness.models import resolve_model
    from harness.train.model import load_tokenizer
    from harness.train.prepare import load_and_guard, tokenize_all
    from harness.train.progress import TokenMeter
    from harness.train.trainer import _build_trainer

    job = load_train_job(write_config(tmp_path, "loss", n_examples=8, held_out=0))
    base = resolve_model(job.base_spec)
    tokenizer = load_tokenizer(base.path)
    prepared = tokenize_all(load_and_guard(job), tokenizer, job)
    trainer = _build_trainer(job, base, ["q_proj", "v_proj"], tokenizer, prepared, TokenMeter(),
                             [])
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()
    trainer.model.eval()
    with torch.no_grad(), trainer.accelerator.autocast():
        ours = trainer.compute_loss(trainer.model, batch)
        reference = trainer.model(**batch).loss
    assert torch.allclose(ours, reference, rtol=1e-2)


def test_if_missing_leaves_an_existing_adapter_alone(trained):
    job, _ = trained
    before = (job.adapter_dir / "manifest.json").read_text()
    result = CliRunner().invoke(cli, ["train", str(job.config_path), "--if-missing"])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    assert (job.adapter_dir / "manifest.json").read_text() == before
