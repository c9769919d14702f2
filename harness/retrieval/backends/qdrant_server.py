"""The `qdrant_server` retriever kind: qdrant-client against a Qdrant server or Qdrant Cloud
(`url`), or qdrant-client's local mode (`path`: a pure-Python stand-in, for tests and small
corpora).

The store lives in harness/retrieval/backends/_server.py and is imported only when opened.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.errors import ConfigError
from harness.registry import RETRIEVERS
from harness.spec.retriever import ResolvedRetriever, RetrieverContext, RetrieverSpec

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


@RETRIEVERS.register("qdrant_server")
class QdrantServerSpec(RetrieverSpec):
    kind: Literal["qdrant_server"] = "qdrant_server"
    url: str | None = Field(None, description="the server, e.g. http://localhost:6333")
    path: str | None = Field(None, description="instead of `url`: a folder for qdrant-client's "
                             "local mode (no server; brute-force search), or \":memory:\" "
                             "(nothing kept: every run re-embeds)")
    api_key_env: str | None = Field(None, pattern=_ENV_NAME, description="name of the "
                                    "environment variable holding the API key (never the key)")
    timeout_s: float = Field(10.0, gt=0, le=600, description="per request; an unreachable "
                             "server fails within it")
    collection: str | None = Field(None, description="collection name; default: harness-<index "
                                   "folder name>")

    @model_validator(mode="after")
    def _url_or_path(self) -> QdrantServerSpec:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` (a Qdrant server) or `path` "
                             "(qdrant-client local mode)")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"url {self.url!r}: expected http:// or https://")
        return self

    def collection_name(self, ctx: RetrieverContext) -> str:
        return self.collection or f"harness-{ctx.name}"

    def location(self, ctx: RetrieverContext) -> str:
        if self.url is not None:
            return f"{self.url} collection {self.collection_name(ctx)}"
        return str(self._local_path(ctx))

    def _local_path(self, ctx: RetrieverContext) -> Path:
        if self.path == ":memory:":
            return Path(":memory:")
        path = Path(str(self.path)).expanduser()
        return path if path.is_absolute() else ctx.base_dir / path

    def resolve(self, ctx: RetrieverContext) -> ResolvedRetriever:
        # Never the URL or the key: the identity goes into cache keys and manifests.
        identity = {"kind": "qdrant_server", "mode": "server" if self.url else "local",
                    "collection": self.collection_name(ctx), **self.search_identity()}
        return ResolvedRetriever("qdrant_server", identity, self.location(ctx))

    def problems(self, ctx: RetrieverContext) -> list[tuple[tuple[Any, ...], str]]:
        if self.api_key_env and self.api_key_env not in os.environ:
            return [(("api_key_env",), f"environment variable {self.api_key_env} (the Qdrant "
                     "API key) is not set")]
        return []

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"retriever.api_key_env: environment variable {self.api_key_env} "
                              "(the Qdrant API key) is not set")
        return key

    def open(self, ctx: RetrieverContext) -> Any:
        from harness.retrieval.backends._server import ServerStore

        if self.url is not None:
            return ServerStore(self.collection_name(ctx), url=self.url, api_key=self.api_key(),
                               timeout_s=self.timeout_s)
        return ServerStore(self.collection_name(ctx), path=self._local_path(ctx),
                           timeout_s=self.timeout_s)
