"""The run manifest: a typed, versioned record the runner writes and everything else reads.

Version 2 records each arm's roles (adapter, retrieval, constrained decoding), its engine, model
and price, so decisions and reports never infer them from a kind name. Manifests written
before (version 1: no `version` field, one model and engine for every arm) are read through
`migrate_v1`, so old run directories stay readable as `compare` baselines and by
`harness report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import RunError
from harness.spec.base import PriceSpec

MANIFEST_VERSION = 2


class _Record(BaseModel):
    # Readers ignore fields a newer harness added; the writer is always this version.
    model_config = ConfigDict(extra="ignore")


class GoldenSetRecord(_Record):
    name: str
    path: str = ""
    hash: str = ""
    n_examples: int = 0
    guard: bool = False


class EngineRecord(_Record):
    name: str
    kind: str
    identity: dict[str, Any] = Field(default_factory=dict)
    model: str = ""  # what reports show as the model
    pinned: bool = True  # False: a hosted model name that can change under the same name
    details: dict[str, Any] = Field(default_factory=dict)


class ArmRecord(_Record):
    name: str
    kind: str
    engine: str = "default"
    model: str = ""
    has_adapter: bool = False
    has_retrieval: bool = False
    constrained: bool = False
    price: PriceSpec | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    detail: dict[str, Any] = Field(default_factory=dict)


class ScorerRecord(_Record):
    name: str
    kind: str = ""
    range: list[float] = Field(default_factory=lambda: [0.0, 1.0])
    higher_is_better: bool = True
    binary: bool = False
    primary: bool = False
    golden_sets: list[str] | None = None
    arms: list[str] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)
    # Hash of what produced this scorer's values (kind, options, code identity): score lines
    # carry it, so a changed scorer re-scores instead of serving old values.
    key: str = ""


class JudgeRecord(_Record):
    """A model judge of the suite. A rubric judge is also in `scorers` (it gives values per
    arm); a pairwise judge gives outcomes per pair of arms, in judgements.jsonl."""

    name: str
    kind: str
    pairwise: bool = False
    engines: list[str] = Field(default_factory=list)  # names in the suite
    models: list[str] = Field(default_factory=list)  # what each engine serves
    pairs: list[list[str]] = Field(default_factory=list)  # pairwise: [arm, baseline] judged
    golden_sets: list[str] | None = None
    min_consistency: float | None = None  # pairwise: below it, gates on the judge inconclusive
    min_human_agreement: float | None = None
    calibration: str | None = None  # the calibration file, as the suite names it
    config: dict[str, Any] = Field(default_factory=dict)  # the judge's section as resolved
    key: str = ""  # hash of config, prompt and engine identities


class RunManifest(_Record):
    version: int = MANIFEST_VERSION
    run_id: str = ""
    suite_name: str = ""
    suite_path: str = ""
    suite_hash: str = ""
    # Everything that produced the inputs (suite, golden-set contents, prompt files, models,
    # adapters): a run is resumed only when it is unchanged.
    input_identity: str = ""
    input_parts: dict[str, str] = Field(default_factory=dict)
    suite: dict[str, Any] = Field(default_factory=dict)  # the suite as written
    golden_sets: list[GoldenSetRecord] = Field(default_factory=list)
    engines: list[EngineRecord] = Field(default_factory=list)
    arms: list[ArmRecord] = Field(default_factory=list)
    scorers: list[ScorerRecord] = Field(default_factory=list)
    judges: list[JudgeRecord] = Field(default_factory=list)
    primary_scorer: str = ""
    seed: int = 0
    max_error_rate: float = 0.05
    currency: str = "USD"
    package_versions: dict[str, str] = Field(default_factory=dict)
    python: str = ""
    status: str = "running"
    started_at: str | None = None
    resumed_at: list[str] = Field(default_factory=list)
    finished_at: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    previous_run: str | None = None  # the unfinished run this one did not resume, and why
    changes: list[str] = Field(default_factory=list)

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    @property
    def adapter_arms(self) -> list[str]:
        return [a.name for a in self.arms if a.has_adapter]

    def arm(self, name: str) -> ArmRecord | None:
        return next((a for a in self.arms if a.name == name), None)

    def engine(self, name: str) -> EngineRecord | None:
        return next((e for e in self.engines if e.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def read_manifest(path: Path) -> RunManifest:
    """Read (and, for an old run, migrate) a manifest; RunError naming the file if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: unreadable manifest ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: unreadable manifest ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a run manifest (expected a JSON object)")
    if "version" not in data:
        data = migrate_v1(data)
    if int(data.get("version", 0)) > MANIFEST_VERSION:
        raise RunError(f"{path}: written by a newer harness (manifest version "
                       f"{data['version']}, this one reads up to {MANIFEST_VERSION})")
    try:
        return RunManifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RunError(f"{path}: malformed manifest at {loc}: {err['msg']}") from exc


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 manifest (one model and engine for every arm) in version 2's shape."""
    suite = data.get("suite") or {}
    engine_identity = (data.get("engine") or {}).get("identity") or {}
    model = data.get("model") or {}
    label = str(model.get("identity") or model.get("spec") or "")
    label = label.split("@", 1)[0].removeprefix("local:").removeprefix("hub:")
    cost = suite.get("cost") or {}
    prices = None
    if cost:
        from harness.spec.cost import CostConfig

        prices = CostConfig.model_validate(cost)
    arms = []
    for arm in data.get("arms") or []:
        tuned = arm.get("kind") == "tuned"
        price = prices.price_for(tuned).model_dump() if prices is not None else None
        arms.append({"name": arm.get("name"), "kind": arm.get("kind", "prompt"),
                     "engine": "default", "model": label, "has_adapter": tuned,
                     "price": price, "params": arm.get("params") or {},
                     "detail": {k: v for k, v in arm.items()
                                if k not in ("name", "kind", "params")}})
    out = dict(data)
    out.update(version=MANIFEST_VERSION, arms=arms, currency=cost.get("currency", "USD"),
               engines=[{"name": "default", "kind": engine_identity.get("kind", ""),
                         "identity": engine_identity, "model": label}])
    return out
