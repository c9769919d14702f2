"""Build the suite's arms from its config (the only place that knows every arm kind)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.adapters_io import MANIFEST_FILE, load_adapter_ref
from harness.arms.base import Arm
from harness.arms.prompt import PromptArm
from harness.arms.tuned import TunedArm
from harness.config import PromptArmSpec, Suite, TunedArmSpec
from harness.errors import ModelError
from harness.golden import load_examples


def build_arms(suite: Suite, model_identity: str) -> list[Arm]:
    prompt_arms = {spec.name: _prompt_arm(suite, spec) for spec in suite.arms
                   if isinstance(spec, PromptArmSpec)}
    arms: list[Arm] = []
    for spec in suite.arms:
        if isinstance(spec, PromptArmSpec):
            arms.append(prompt_arms[spec.name])
        elif isinstance(spec, TunedArmSpec):
            arms.append(_tuned_arm(suite, spec, prompt_arms, model_identity))
    return arms


def _prompt_arm(suite: Suite, spec: PromptArmSpec) -> PromptArm:
    system = spec.system_prompt
    if spec.system_prompt_file:
        system = suite.resolve(spec.system_prompt_file).read_text(encoding="utf-8").strip()
    shots = [(s.user, s.assistant) for s in spec.few_shot]
    if spec.few_shot_file:
        for example in load_examples(suite.resolve(spec.few_shot_file)):
            shots.append((example.user_text, example.reference))
    if spec.few_shot_limit is not None:
        shots = shots[: spec.few_shot_limit]
    params = (spec.generation or suite.generation).params()
    return PromptArm(spec.name, params, system_prompt=system, few_shot=shots)


def _tuned_arm(suite: Suite, spec: TunedArmSpec, prompt_arms: dict[str, PromptArm],
               model_identity: str) -> TunedArm:
    folder = suite.resolve(spec.adapter)
    ref = load_adapter_ref(folder, name=spec.name)
    if ref.base_model and ref.base_model != model_identity:
        raise ModelError(
            f"adapter {folder} was trained on base model '{ref.base_model}', but the suite's "
            f"model is '{model_identity}'"
        )
    if spec.prompt == "minimal":
        params = (spec.generation or suite.generation).params()
        inner: Arm = PromptArm(f"{spec.name}:minimal", params,
                               system_prompt=trained_system_prompt(folder))
    else:
        inner = prompt_arms[spec.prompt]
        if spec.generation is not None:
            inner = PromptArm(inner.name, spec.generation.params(),
                              system_prompt=inner.system_prompt, few_shot=inner.few_shot)
    return TunedArm(spec.name, ref, inner)


def trained_system_prompt(adapter_dir: Path) -> str | None:
    """The system prompt the adapter was trained with, from its manifest (None if unknown)."""
    manifest = adapter_dir / MANIFEST_FILE
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    return data.get("system_prompt") or None
