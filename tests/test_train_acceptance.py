"""Acceptance: a short QLoRA run on the demo data lowers the loss and teaches the answer format.

The system prompt here deliberately does not describe the JSON format: the base model has no
way to know it, so any JSON the tuned model writes on held-out golden questions was learned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.golden import load_examples
from harness.train.job import load_train_job
from harness.train.trainer import train_adapter

REPO = Path(__file__).resolve().parent.parent
SYSTEM = "You are the support assistant of Lumen City Transit."
N_PROMPTS = 8


def follows_format(text: str) -> bool:
    try:
        reply = json.loads(text.strip())
    except json.JSONDecodeError:
        return False
    return isinstance(reply, dict) and set(reply) == {"topic", "answer"}


def greedy_replies(model, tokenizer, questions: list[str]) -> list[str]:
    import torch

    tokenizer.padding_side = "left"  # generation continues from the right end of each row
    prompts = [tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
        add_generation_prompt=True, tokenize=False) for q in questions]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=64, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
def test_short_training_lowers_loss_and_tuned_model_follows_the_format(tmp_path, default_model):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = {"name": "format", "data": str(REPO / "suites/demo_data/train.jsonl"),
              "system_prompt": SYSTEM,
              "golden_sets": [{"path": str(REPO / "golden_sets/transit_support.jsonl")}],
              "lora": {"r": 16, "target_modules": "all-linear"},
              "max_steps": 30, "batch_size": 4, "learning_rate": 1e-3, "max_length": 192,
              "threads": 1, "output_dir": "store"}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = train_adapter(load_train_job(tmp_path / "train.yaml"), show_progress=False)

    losses = [h["loss"] for h in result.manifest["loss_history"]]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:3]) / 3  # visibly lower

    golden = load_examples(REPO / "golden_sets/transit_support.jsonl")[:N_PROMPTS]
    questions = [g.user_text for g in golden]
    base_path = result.manifest["base_model"]["path"]
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16)
    base_replies = greedy_replies(base, tokenizer, questions)
    tuned = PeftModel.from_pretrained(base, str(result.adapter_dir))
    tuned_replies = greedy_replies(tuned, tokenizer, questions)

    base_ok = sum(map(follows_format, base_replies))
    tuned_ok = sum(map(follows_format, tuned_replies))
    assert base_ok == 0, base_replies
    assert tuned_ok >= N_PROMPTS - 2, tuned_replies
