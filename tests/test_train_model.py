"""The 4-bit base and its LoRA wrapping: target modules, and gradients that survive evaluation."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.spec.train import TrainConfig
from harness.train import model as train_model

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_all_linear_means_every_projection_but_the_output_layer(default_model):
    config = TrainConfig(name="a", data="d")
    assert train_model.check_target_modules(config, default_model.path) == LLAMA_LINEAR


def test_unknown_target_module_is_refused_naming_what_exists(default_model):
    config = TrainConfig(name="a", data="d", lora={"target_modules": ["q_proj", "c_attn"]})
    with pytest.raises(ConfigError) as err:
        train_model.check_target_modules(config, default_model.path)
    assert "no linear layer named 'c_attn'" in err.value.message
    assert ", ".join(LLAMA_LINEAR) in err.value.message


def test_lora_gradients_still_flow_after_an_evaluation_pass(default_model):
    # bitsandbytes repacks 4-bit weights for CPU inference on the first no-grad eval forward,
    # and that path has no backward: unguarded, every LoRA gradient is None afterwards.
    import torch

    torch.manual_seed(0)
    config = TrainConfig(name="a", data="d", threads=1,
                         lora={"r": 8, "target_modules": ["q_proj", "v_proj"]})
    model = train_model.load_base(default_model.path, config)
    model = train_model.attach_lora(model, config, ["q_proj", "v_proj"])
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())  # really 4-bit
    ids = torch.randint(0, 1000, (2, 12))
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids, labels=ids).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if "lora_B" in n}
    assert len(grads) == 60  # 30 layers x (q_proj, v_proj)
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())
