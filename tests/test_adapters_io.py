"""Adapter folders: identity by content hash, and the checks that say whether vLLM can serve one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from harness.adapters_io import (
    adapter_content_hash,
    check_vllm_compatible,
    load_adapter_ref,
    serving_name,
)
from harness.errors import ModelError

# peft calls a transformers API deprecated in v5 while building the real adapter.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

LORA_KEYS = ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
             "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")


def write_adapter(folder: Path, *, r: int = 8, seed: int = 0, extra_tensors: dict | None = None,
                  **config) -> Path:
    """A LoRA adapter folder in peft's on-disk format (small random tensors)."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    tensors = {LORA_KEYS[0]: torch.randn(r, 16, generator=generator),
               LORA_KEYS[1]: torch.randn(16, r, generator=generator)}
    tensors.update(extra_tensors or {})
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    cfg = {"peft_type": "LORA", "r": r, "lora_alpha": r, "target_modules": ["q_proj", "v_proj"],
           "base_model_name_or_path": "/somewhere/base", "modules_to_save": None,
           "use_dora": False, "rank_pattern": {}}
    cfg.update(config)
    (folder / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def test_ref_reads_rank_path_and_a_sha256_content_hash(tmp_path):
    ref = load_adapter_ref(write_adapter(tmp_path / "tuned", r=16))
    assert ref.rank == 16
    assert ref.name == "tuned"
    assert ref.path == str((tmp_path / "tuned").resolve())
    assert len(ref.content_hash) == 64
    assert ref.base_model == ""


def test_same_weights_in_another_folder_and_base_path_give_the_same_hash(tmp_path):
    a = write_adapter(tmp_path / "a", seed=1)
    b = write_adapter(tmp_path / "b", seed=1, base_model_name_or_path="/other/machine/base",
                      target_modules=["v_proj", "q_proj"])  # peft saves this set unordered
    assert load_adapter_ref(a).content_hash == load_adapter_ref(b).content_hash


def test_different_weights_give_a_different_hash_and_serving_name(tmp_path):
    a = load_adapter_ref(write_adapter(tmp_path / "a", seed=1))
    b = load_adapter_ref(write_adapter(tmp_path / "b", seed=2))
    assert a.content_hash != b.content_hash
    assert serving_name(a) != serving_name(b)


def test_a_config_change_that_alters_outputs_changes_the_hash(tmp_path):
    a = load_adapter_ref(write_adapter(tmp_path / "a", seed=1, lora_alpha=8))
    b = load_adapter_ref(write_adapter(tmp_path / "b", seed=1, lora_alpha=32))
    assert a.content_hash != b.content_hash


def test_serving_name_is_lora_dash_first_12_hex_of_the_hash(tmp_path):
    ref = load_adapter_ref(write_adapter(tmp_path / "a"))
    assert serving_name(ref) == f"lora-{ref.content_hash[:12]}"


def test_manifest_base_model_is_read_as_string_or_identity(tmp_path):
    folder = write_adapter(tmp_path / "a")
    (folder / "manifest.json").write_text(json.dumps({"base_model": "SmolLM2@gguf:abc"}))
    assert load_adapter_ref(folder).base_model == "SmolLM2@gguf:abc"
    (folder / "manifest.json").write_text(
        json.dumps({"base_model": {"path": "/x", "identity": "local:x@123"}}))
    assert load_adapter_ref(folder).base_model == "local:x@123"


def test_rank_pattern_larger_than_r_sets_the_rank(tmp_path):
    ref = load_adapter_ref(write_adapter(tmp_path / "a", r=8, rank_pattern={"q_proj": 32}))
    assert ref.rank == 32


def test_missing_folder_raises_model_error_naming_it(tmp_path):
    with pytest.raises(ModelError, match=r"adapter folder .*nope does not exist"):
        load_adapter_ref(tmp_path / "nope")


def test_folder_without_adapter_config_raises_model_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no adapter_config\.json"):
        load_adapter_ref(tmp_path / "empty")


def test_folder_without_weights_raises_model_error(tmp_path):
    folder = write_adapter(tmp_path / "a")
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"no adapter_model\.safetensors"):
        load_adapter_ref(folder)


def test_non_lora_peft_type_is_refused(tmp_path):
    with pytest.raises(ModelError, match="peft_type is IA3"):
        load_adapter_ref(write_adapter(tmp_path / "a", peft_type="IA3"))


def test_plain_lora_adapter_has_no_vllm_problems(tmp_path):
    assert check_vllm_compatible(write_adapter(tmp_path / "a", r=16), max_rank=16) == []


def test_rank_between_allowed_limits_is_servable_under_a_larger_limit(tmp_path):
    # vLLM restricts --max-lora-rank to 1, 8, 16, ... but serves any r up to it (r=12 under 16).
    assert check_vllm_compatible(write_adapter(tmp_path / "a", r=12), max_rank=16) == []


def test_rank_above_server_limit_is_reported(tmp_path):
    problems = check_vllm_compatible(write_adapter(tmp_path / "a", r=32), max_rank=16)
    assert problems == ["rank r=32 is above the server's --max-lora-rank 16"]


def test_rank_above_vllm_maximum_is_reported_without_a_limit(tmp_path):
    problems = check_vllm_compatible(write_adapter(tmp_path / "a", r=1024))
    assert any("outside what vLLM serves" in p for p in problems)


def test_modules_to_save_dora_and_trainable_tokens_are_each_reported(tmp_path):
    folder = write_adapter(tmp_path / "a", modules_to_save=["lm_head"], use_dora=True,
                           trainable_token_indices=[5])
    problems = " / ".join(check_vllm_compatible(folder))
    assert "modules_to_save" in problems
    assert "use_dora" in problems
    assert "trainable_token_indices" in problems


def test_resized_embeddings_saved_with_the_adapter_are_reported(tmp_path):
    embed = {"base_model.model.model.embed_tokens.weight": torch.zeros(4, 16)}
    problems = check_vllm_compatible(write_adapter(tmp_path / "a", extra_tensors=embed))
    assert len(problems) == 1
    assert "embed_tokens" in problems[0]


def test_new_embeddings_file_is_reported(tmp_path):
    folder = write_adapter(tmp_path / "a")
    save_file({"input_embeddings": torch.zeros(2, 16)}, str(folder / "new_embeddings.safetensors"))
    assert any("vocabulary was resized" in p for p in check_vllm_compatible(folder))


def test_missing_folder_and_corrupt_weights_are_problems_not_exceptions(tmp_path):
    assert check_vllm_compatible(tmp_path / "nope") == [
        f"adapter folder {tmp_path / 'nope'} does not exist"]
    folder = write_adapter(tmp_path / "a")
    (folder / "adapter_model.safetensors").write_bytes(b"\x05\x00")
    assert any("not a valid safetensors" in p for p in check_vllm_compatible(folder))


def test_real_peft_adapter_is_read_and_servable(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = get_peft_model(LlamaForCausalLM(config),
                           LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(tmp_path / "peft")
    ref = load_adapter_ref(tmp_path / "peft")
    assert ref.rank == 8
    assert ref.content_hash == adapter_content_hash(tmp_path / "peft")
    assert check_vllm_compatible(tmp_path / "peft", max_rank=8) == []
