"""Build a corpus's index incrementally: embed only what changed, then build the HNSW index.

A build chunks every document and compares the chunks with what the store holds:
- a chunk's point id derives from its document id, its content hash (text + chunking
  parameters) and the embedder's identity, so an unchanged chunk keeps its id: it is neither
  re-embedded nor re-written;
- a point whose id is wanted but whose payload differs (its position in the document moved,
  the record's metadata changed) gets its payload rewritten, its vector kept;
- new ids are embedded in one batched pass (sorted by length, in slices for the progress bar)
  and upserted; ids no longer wanted (removed or changed documents) are deleted;
- then the store builds its search index (qdrant-edge never does by itself).

The index identity hashes the corpus content, the embedder's identity and the chunking
parameters: it is what a cached RAG run compares. The default index folder is keyed by the
corpus location, embedder, chunking and retriever kind instead (not by content), so editing a
document updates the same folder incrementally. `manifest.json` in the index folder records
identity, counts, embedder and dimensions.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, DataError, ModelError
from harness.retrieval.chunking import Chunk, chunk_documents, point_id
from harness.retrieval.corpus import Document, corpus_hash, load_corpus
from harness.spec.corpus import CorpusSpec
from harness.spec.retriever import RetrieverContext
from harness.store import write_bytes_atomic
from harness.types import stable_hash

if TYPE_CHECKING:
    from harness.retrieval.store import VectorStore

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
EMBED_SLICE = 256  # chunks per embed() call: the progress bar moves per slice


@dataclass
class IndexReport:
    index_dir: Path
    identity: str
    documents: int = 0
    chunks: int = 0  # chunks the corpus has now (= points in the index after the build)
    embedded: int = 0  # chunks embedded by this build
    upserted: int = 0  # points written with a vector
    payload_updated: int = 0  # points whose payload was rewritten, vector kept
    deleted: int = 0
    unchanged: int = 0
    seconds: float = 0.0  # the build, not counting loading the embedder (load_seconds)
    load_seconds: float = 0.0
    embed_seconds: float = 0.0
    optimize_seconds: float = 0.0
    embedder: str = ""
    dims: int = 0

    @property
    def embedder_share(self) -> float:
        """The embedder's share of the build's time (0..1)."""
        return self.embed_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def chunks_per_s(self) -> float:
        """Chunks embedded and written per second of build."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["index_dir"] = str(self.index_dir)
        out["embedder_share"] = round(self.embedder_share, 4)
        out["chunks_per_s"] = round(self.chunks_per_s, 2)
        return out


@dataclass
class IndexPlan:
    """What a build knows before touching the store (no model loaded)."""

    spec: CorpusSpec
    corpus_path: Path
    embedder_folder: Path
    embedder: str  # the embedder's identity
    index_dir: Path
    context: RetrieverContext
    extra: dict[str, Any] = field(default_factory=dict)


def embedder_identity(folder: Path, default: bool = False) -> str:
    """The embedder by content: every weight, config and tokenizer file's sha256 (cached)."""
    from harness.models import folder_content_hash

    name = "all-MiniLM-L6-v2" if default else f"local:{folder.name}"
    return f"{name}@{folder_content_hash(folder)}"


def index_identity(corpus_content_hash: str, embedder: str, chunking: dict[str, int]) -> str:
    return stable_hash({"corpus": corpus_content_hash, "embedder": embedder,
                        "chunking": chunking})[:16]


def point_id_namespace(embedder: str) -> str:
    return stable_hash({"embedder": embedder})[:16]


def plan_index(spec: CorpusSpec, base_dir: Path | None = None) -> IndexPlan:
    """Resolve the corpus, embedder and index folders (hashing the embedder's files, no model
    loading): errors for a missing corpus or embedder come from here."""
    from harness.embedding import embedder_folder
    from harness.paths import cache_dir

    corpus_path = spec.corpus_path(base_dir)
    if not corpus_path.exists():
        raise DataError(f"corpus.path: corpus folder {corpus_path} does not exist")
    try:
        folder = embedder_folder(spec.embedder_path(base_dir))
    except ModelError as exc:
        raise ModelError(f"corpus.embedder: {exc.message}") from exc
    embedder = embedder_identity(folder, default=spec.embedder is None)
    index_dir = spec.index_path(base_dir)
    if index_dir is None:
        slot = stable_hash({"corpus": str(corpus_path.resolve()), "embedder": embedder,
                            "chunking": spec.chunking(), "retriever": spec.retriever.kind})[:16]
        index_dir = cache_dir() / "indexes" / f"{corpus_path.stem or 'corpus'}-{slot}"
    ctx = RetrieverContext(index_dir=index_dir, base_dir=base_dir or Path.cwd(),
                           name=index_dir.name)
    return IndexPlan(spec, corpus_path, folder, embedder, index_dir, ctx)


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_manifest(index_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(index_dir / MANIFEST, text.encode("utf-8"))


def build_index(spec: CorpusSpec, base_dir: Path | None = None, *,
                progress: bool | None = None, device: str | None = None,
                batch_size: int = 64) -> IndexReport:
    """Bring the index of `spec`'s corpus up to date; return what was done."""
    plan = plan_index(spec, base_dir)
    store = spec.retriever.open(plan.context)
    try:
        return update_index(plan, store, progress=progress, device=device,
                            batch_size=batch_size)
    finally:
        store.close()


def update_index(plan: IndexPlan, store: VectorStore, *, progress: bool | None = None,
                 device: str | None = None, batch_size: int = 64,
                 documents: Sequence[Document] | None = None) -> IndexReport:
    """The build itself, on an open store (the retriever keeps it open to search)."""
    from harness.embedding import embed, embedding_dim, load_embedder

    spec = plan.spec
    started = time.perf_counter()
    docs = list(documents) if documents is not None else load_corpus(plan.corpus_path)
    t0 = time.perf_counter()
    model = load_embedder(plan.embedder_folder, device)  # once per process
    load_seconds = time.perf_counter() - t0
    dims = embedding_dim(model)
    readable = int(getattr(model, "max_seq_length", 0) or 0) - 2  # [CLS] and [SEP]
    if readable > 0 and spec.chunk_tokens > readable:
        raise ConfigError(f"corpus.chunk_tokens: {spec.chunk_tokens} is more than the embedder "
                          f"{plan.embedder_folder} reads ({readable} tokens of text, "
                          f"max_seq_length {readable + 2})")
    chunks = chunk_documents(docs, model, spec.chunk_tokens, spec.chunk_overlap)
    if not chunks:
        raise DataError(f"corpus {plan.corpus_path} has no text to index")

    size = store.vector_size()
    if size is None:
        store.create(dims)
    elif size != dims:
        raise ConfigError(f"index {store.location} holds vectors of size {size} but the "
                          f"embedder {plan.embedder_folder} gives {dims}: set corpus.index_dir "
                          "to another folder or delete this one")

    namespace = point_id_namespace(plan.embedder)
    wanted: dict[str, Chunk] = {}
    for chunk in chunks:
        wanted[point_id(chunk, namespace)] = chunk
    held = store.existing()
    new = [pid for pid in wanted if pid not in held]
    payloads = {pid: wanted[pid].payload() for pid in wanted}
    restated = [pid for pid in wanted
                if pid in held and held[pid] != payloads[pid]["payload_hash"]]
    gone = [pid for pid in held if pid not in wanted]
    report = IndexReport(plan.index_dir, index_identity(corpus_hash(docs), plan.embedder,
                                                        spec.chunking()),
                         documents=len(docs), chunks=len(wanted), embedder=plan.embedder,
                         dims=dims, load_seconds=load_seconds)
    if gone:
        store.delete(gone)
        report.deleted = len(gone)
    if restated:
        store.set_payloads(restated, [payloads[pid] for pid in restated])
        report.payload_updated = len(restated)
    new.sort(key=lambda pid: wanted[pid].token_count)  # similar lengths batch well
    with _progress_bar(len(new), progress) as advance:
        for start in range(0, len(new), EMBED_SLICE):
            ids = new[start:start + EMBED_SLICE]
            t0 = time.perf_counter()
            vectors = embed([wanted[pid].text for pid in ids], batch_size=batch_size,
                            path=plan.embedder_folder, device=device)
            report.embed_seconds += time.perf_counter() - t0
            store.upsert(ids, vectors, [payloads[pid] for pid in ids])
            advance(len(ids))
    report.embedded = report.upserted = len(new)
    report.unchanged = len(wanted) - len(new) - len(restated)
    store.flush()
    t0 = time.perf_counter()
    store.optimize()
    report.optimize_seconds = time.perf_counter() - t0
    report.seconds = time.perf_counter() - started - load_seconds
    _write_manifest(plan.index_dir, {
        "version": MANIFEST_VERSION, "identity": report.identity, "embedder": plan.embedder,
        "dims": dims, "chunking": spec.chunking(), "retriever": spec.retriever.kind,
        "location": store.location, "documents": report.documents, "chunks": report.chunks,
        "corpus": str(plan.corpus_path.resolve())})
    return report


@contextmanager
def _progress_bar(total: int, enabled: bool | None) -> Iterator[Any]:
    """advance(n) for a rich progress bar of chunks embedded, with chunks/s; nothing shown when
    disabled (default: only on a terminal) or when there is nothing to embed."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            elapsed = task.finished_time if task.finished else task.elapsed
            if not elapsed or not task.completed:
                return Text("- chunks/s")
            return Text(f"{task.completed / elapsed:.1f} chunks/s")

    columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("embedding", total=total)
        yield lambda n: bar.advance(task, n)
