"""What every built judge shares: its config, prompt, identity, engines and the key of its
results (the judge's config and prompt plus the identities of the engines that answer it)."""

from __future__ import annotations

from typing import Any

from harness.judges._client import JudgeEngines
from harness.types import stable_hash


class Judge:
    pairwise = False

    def __init__(self, name: str, spec: Any, template: str, system: str,
                 identity: dict[str, Any]):
        self.name = name
        self.spec = spec
        self.template = template
        self.system = system
        self.identity = identity
        self.client: JudgeEngines | None = None

    @property
    def engines(self) -> list[str]:
        return self.spec.engine_names()

    def bind(self, client: JudgeEngines) -> None:
        self.client = client

    def key(self, engine_identities: list[dict[str, Any]]) -> str:
        """What produced this judge's values: its config, prompt and engines."""
        return stable_hash({"judge": self.identity, "engines": engine_identities})[:24]
