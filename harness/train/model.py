"""The base model for training: checks made before any weight loads, loading, LoRA wrapping.

QLoRA: the frozen base is quantised to 4-bit NF4 (bitsandbytes) and LoRA adapters train in
full precision on top; `quantization: none` trains the same adapters on a 16-bit base. The same
code runs on CPU (bitsandbytes' torch fallback) and on a CUDA GPU.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ModelError
from harness.spec.train import ALL_LINEAR, TrainConfig

OUTPUT_LAYERS = {"lm_head"}  # never adapted: peft's "all-linear" skips it too


def quiet_libraries() -> None:
    """Silence load-time chatter that would break the progress display."""
    from transformers.utils import logging as hf_logging

    # peft calls a transformers method deprecated in v5; not ours to fix, not the user's news.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                            category=FutureWarning)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def linear_module_names(model_path: str) -> set[str]:
    """Leaf names of the model's linear layers (q_proj, ...), read from an empty (meta) model."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model config of {model_path}: {exc}") from exc
    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(config)
    return {name.rsplit(".", 1)[-1] for name, module in empty.named_modules()
            if isinstance(module, torch.nn.Linear)}


def check_target_modules(config: TrainConfig, model_path: str) -> list[str]:
    """The modules LoRA will adapt; ConfigError naming any the model does not have."""
    available = linear_module_names(model_path) - OUTPUT_LAYERS
    targets = config.lora.target_modules
    if targets == [ALL_LINEAR]:
        return sorted(available)
    missing = [t for t in targets if t not in available]
    if missing:
        raise ConfigError(f"lora.target_modules: the model has no linear layer named "
                          f"{', '.join(repr(m) for m in missing)}; it has: "
                          f"{', '.join(sorted(available))} (or use \"all-linear\")")
    return list(targets)


def load_tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer of {model_path}: {exc}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{model_path}: the tokenizer has no chat template; training must "
                         "render examples the way inference does")
    return tokenizer


def _dtype(name: str) -> Any:
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16,
            "float32": torch.float32}[name]


def load_base(model_path: str, config: TrainConfig) -> Any:
    """The frozen base: 4-bit NF4 (QLoRA) or 16-bit, placed on the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if config.threads:
        torch.set_num_threads(config.threads)
    compute = _dtype(config.resolved_compute_dtype)
    kwargs: dict[str, Any] = {"dtype": compute}
    if config.quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute)
    if device() == "cuda":
        kwargs["device_map"] = {"": 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the base model {model_path}: {exc}") from exc
    model.config.use_cache = False  # the KV cache is useless in training and costs memory
    return model


def attach_lora(model: Any, config: TrainConfig, targets: list[str]) -> Any:
    """Wrap the base with fresh LoRA adapters; only those train.

    No modules_to_save, no DoRA, no embedding resize: vLLM could not serve the adapter.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if config.quantization == "nf4":
        keep_4bit_weights_trainable(model)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing)
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha,
                      lora_dropout=config.lora.dropout, target_modules=targets, bias="none",
                      task_type="CAUSAL_LM", use_dora=False, modules_to_save=None)
    return get_peft_model(model, lora)


def keep_4bit_weights_trainable(model: Any) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference during training.

    bitsandbytes 0.50 repacks a Linear4bit's weights into a CPU inference layout the first time
    it runs in eval mode without gradients (an evaluation pass), and keeps using that layout's
    kernel afterwards, which has no backward: every LoRA gradient is then silently None and
    training stops learning after the first evaluation. Turning the repacking off keeps the
    differentiable path. Returns how many layers were switched.
    """
    switched = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            switched += 1
    return switched


def check_vocabulary(tokenizer: Any, model_path: str) -> None:
    """The tokenizer must fit the embeddings as they are: resizing breaks vLLM serving."""
    import json

    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        return
    vocab = json.loads(config_file.read_text()).get("vocab_size")
    if vocab is not None and len(tokenizer) > vocab:
        raise ModelError(f"{model_path}: the tokenizer has {len(tokenizer)} tokens but the "
                         f"model only {vocab} embeddings; an adapter needing resized "
                         "embeddings cannot be served by vLLM")
