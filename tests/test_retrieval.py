"""The retrieval layer with the real embedder and the real Qdrant engines: corpus loading,
token chunking, the incremental index, filters, persistence, backend conformance, metrics and
one-line errors for bad input. Corpora are a few short documents written by each test."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from harness.embedding import load_embedder
from harness.errors import ConfigError, DataError, EngineError, HarnessError, ModelError
from harness.registry import RETRIEVERS
from harness.retrieval.chunking import chunk_documents, chunk_text, paragraphs, point_id
from harness.retrieval.corpus import load_corpus
from harness.retrieval.index import build_index, plan_index, point_id_namespace, update_index
from harness.retrieval.metrics import (
    ndcg_at_k,
    ranked_documents,
    recall_at_k,
    reciprocal_rank,
    retrieval_metrics,
)
from harness.retrieval.retriever import open_retriever
from harness.retrieval.store import VectorStore
from harness.spec.corpus import CorpusSpec

DOCS = {
    "cats.md": "Cats are small carnivorous mammals that purr when content and sleep most of the "
               "day.\n\nA cat grooms its fur with a rough tongue and hunts mice at night.\n\n"
               "Kittens open their eyes about ten days after birth.",
    "trains.md": "The night train leaves the central station at eleven and reaches the coast "
                 "by morning.\n\nSleeper cabins have two bunks, a washbasin and a reading "
                 "lamp.\n\nTickets for the sleeper must be booked a day in advance.",
    "baking.txt": "Bread rises because yeast ferments the sugars in the dough and releases "
                  "carbon dioxide.\n\nBake the loaf in a hot oven until the crust sounds "
                  "hollow when tapped.",
    "guides/astronomy.md": "Jupiter is the largest planet of the solar system, a gas giant "
                           "with a great red storm.\n\nSaturn is known for its bright rings "
                           "of ice and rock.",
}
RECORDS = [
    {"id": "r1", "text": "Dogs may travel on buses if they stay on a lead.",
     "metadata": {"topic": "pets", "lang": "en"}},
    {"id": "r2", "text": "Cats must travel in a closed basket on every bus.",
     "metadata": {"topic": "pets", "lang": "en"}},
    {"id": "r3", "text": "A single fare costs two euros and is valid for ninety minutes.",
     "metadata": {"topic": "fares", "lang": "en"}},
    {"id": "r4", "text": "Le billet simple coûte deux euros, valable quatre-vingt-dix minutes.",
     "metadata": {"topic": "fares", "lang": "fr"}},
]
QUERIES = ["Which animal purrs and hunts mice?", "When does the sleeper train leave?",
           "Why does bread dough rise?", "Which planet has rings?"]
CHUNK = {"chunk_tokens": 32, "chunk_overlap": 6}
BACKENDS = ["qdrant_edge", "qdrant_server_local"]


@pytest.fixture(scope="module")
def embedder():
    """The embedded MiniLM, loaded once for the module (harness.embedding caches it)."""
    return load_embedder()


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def retriever_config(backend: str, where: Path) -> dict:
    if backend == "qdrant_edge":
        return {"kind": "qdrant_edge"}
    return {"kind": "qdrant_server", "path": str(where / "client-local")}


def corpus_spec(tmp_path: Path, backend: str = "qdrant_edge", path: Path | None = None,
                **extra) -> CorpusSpec:
    if path is None:
        path = write_docs(tmp_path / "kb", DOCS)
    return CorpusSpec(path=str(path), index_dir=str(tmp_path / f"index-{backend}"),
                      retriever=retriever_config(backend, tmp_path), **{**CHUNK, **extra})


class SpyStore(VectorStore):
    """Delegates to a real store and records which point ids were written or deleted."""

    def __init__(self, inner: VectorStore):
        self.inner, self.location = inner, inner.location
        self.upserted: list[str] = []
        self.restated: list[str] = []
        self.deleted: list[str] = []

    def vector_size(self):
        return self.inner.vector_size()

    def create(self, size):
        self.inner.create(size)

    def existing(self):
        return self.inner.existing()

    def upsert(self, ids, vectors, payloads):
        self.upserted += ids
        self.inner.upsert(ids, vectors, payloads)

    def set_payloads(self, ids, payloads):
        self.restated += ids
        self.inner.set_payloads(ids, payloads)

    def delete(self, ids):
        self.deleted += ids
        self.inner.delete(ids)

    def search(self, *args, **kwargs):
        return self.inner.search(*args, **kwargs)

    def count(self):
        return self.inner.count()

    def optimize(self):
        self.inner.optimize()

    def flush(self):
        self.inner.flush()

    def close(self):
        self.inner.close()


def spied_build(spec: CorpusSpec) -> tuple:
    plan = plan_index(spec)
    store = SpyStore(spec.retriever.open(plan.context))
    try:
        return update_index(plan, store, progress=False), store
    finally:
        store.close()


def ids_of(spec: CorpusSpec, embedder, doc_ids: set[str] | None = None) -> set[str]:
    plan = plan_index(spec)
    namespace = point_id_namespace(plan.embedder)
    return {point_id(c, namespace) for c in chunk_documents(
        load_corpus(plan.corpus_path), embedder, spec.chunk_tokens, spec.chunk_overlap)
        if doc_ids is None or c.doc_id in doc_ids}


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message and message
    return message


# ---- the incremental index ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_editing_one_file_re_embeds_and_rewrites_only_that_files_changed_chunks(
        tmp_path, embedder, backend, monkeypatch):
    import harness.embedding

    spec = corpus_spec(tmp_path, backend)
    embedded_texts: list[str] = []
    real_embed = harness.embedding.embed

    def counting_embed(texts, *args, **kwargs):
        embedded_texts.extend(texts)
        return real_embed(texts, *args, **kwargs)

    monkeypatch.setattr(harness.embedding, "embed", counting_embed)
    first, _ = spied_build(spec)
    all_ids = ids_of(spec, embedder)
    assert first.embedded == first.upserted == first.chunks == len(all_ids) == len(embedded_texts)
    assert first.documents == 4 and first.deleted == first.unchanged == 0

    kb = Path(spec.path)
    (kb / "cats.md").touch()  # a new mtime, the same content: nothing to do
    again, spy = spied_build(spec)
    assert (again.embedded, again.unchanged, spy.upserted, spy.restated, spy.deleted) == (
        0, len(all_ids), [], [], [])
    assert again.identity == first.identity

    before_trains = ids_of(spec, embedder, {"trains.md"})
    (kb / "trains.md").write_text(DOCS["trains.md"].replace("two bunks", "four narrow bunks"),
                                  encoding="utf-8")
    after_trains = ids_of(spec, embedder, {"trains.md"})
    changed, dropped = after_trains - before_trains, before_trains - after_trains
    assert 0 < len(changed) < len(after_trains)  # the first paragraph's chunk is kept
    embedded_texts.clear()
    edited, spy = spied_build(spec)
    assert edited.embedded == len(embedded_texts) == len(changed)
    assert set(spy.upserted) == changed and set(spy.deleted) == dropped
    # nothing outside trains.md was embedded or written
    untouched = all_ids - before_trains
    assert not untouched & (set(spy.upserted) | set(spy.restated) | set(spy.deleted))
    assert edited.unchanged == edited.chunks - len(changed) - edited.payload_updated
    assert edited.identity != first.identity
    manifest = json.loads((Path(spec.index_dir) / "manifest.json").read_text())
    assert manifest["identity"] == edited.identity and manifest["dims"] == 384
    assert manifest["chunks"] == edited.chunks and manifest["documents"] == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_removing_a_file_deletes_its_chunks_from_the_index_and_from_results(
        tmp_path, embedder, backend):
    spec = corpus_spec(tmp_path, backend)
    build_index(spec, progress=False)
    cat_ids = ids_of(spec, embedder, {"cats.md"})
    (Path(spec.path) / "cats.md").unlink()
    with open_retriever(spec, progress=False) as retriever:
        assert retriever.report.deleted == len(cat_ids) and retriever.report.embedded == 0
        assert retriever.store.count() == retriever.report.chunks
        assert not cat_ids & set(retriever.store.existing())
        hits = retriever.search(["Which animal purrs and hunts mice?"], k=50)[0]
    assert hits and "cats.md" not in {h.doc_id for h in hits}


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_and_doc_id_filters_restrict_results(tmp_path, embedder, backend):
    from tests.conftest import write_jsonl

    records = write_jsonl(tmp_path / "records.jsonl", RECORDS)
    spec = corpus_spec(tmp_path, backend, path=records)
    with open_retriever(spec, progress=False) as retriever:
        query = ["Can I take my animal on the bus, and what does a ticket cost?"]
        everything = retriever.search(query, k=10)[0]
        assert {h.doc_id for h in everything} == {"r1", "r2", "r3", "r4"}
        pets = retriever.search(query, k=10, filter={"metadata.topic": "pets"})[0]
        assert {h.doc_id for h in pets} == {"r1", "r2"}
        assert all(h.metadata["topic"] == "pets" for h in pets)
        chosen = retriever.search(query, k=10, filter={"doc_id": ["r3", "r4"]})[0]
        assert {h.doc_id for h in chosen} == {"r3", "r4"}
        both = retriever.search(query, k=10, filter={"metadata.topic": "fares",
                                                     "metadata.lang": "fr"})[0]
        assert [h.doc_id for h in both] == ["r4"]
        assert [h.source for h in both] == ["records.jsonl#r4"]
    # a filter in the retriever config applies to every query
    spec = spec.model_copy(update={"retriever": spec.retriever.model_copy(
        update={"filter": {"metadata.lang": "fr"}})})
    with open_retriever(spec, progress=False) as retriever:
        assert retriever.report.embedded == 0
        assert [h.doc_id for h in retriever.search(query, k=10)[0]] == ["r4"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_persists_across_close_and_reopen_with_the_same_results(tmp_path, embedder,
                                                                       backend):
    spec = corpus_spec(tmp_path, backend)
    with open_retriever(spec, progress=False) as retriever:
        before = retriever.search(QUERIES, k=3)
        count = retriever.store.count()
    with open_retriever(spec, build=False) as reopened:
        after = reopened.search(QUERIES, k=3)
        assert reopened.store.count() == count
        assert reopened.identity()["index"] == retriever.identity()["index"]
    assert [[h.chunk_id for h in hits] for hits in after] == [
        [h.chunk_id for h in hits] for hits in before]
    assert [[round(h.score, 5) for h in hits] for hits in after] == [
        [round(h.score, 5) for h in hits] for hits in before]
    assert [hits[0].doc_id for hits in after] == [
        "cats.md", "trains.md", "baking.txt", "guides/astronomy.md"]
    assert build_index(spec, progress=False).embedded == 0  # a reopened index stays incremental


def test_edge_and_client_local_backends_return_the_same_ids_in_the_same_order(tmp_path,
                                                                              embedder):
    results = {}
    for backend in BACKENDS:
        with open_retriever(corpus_spec(tmp_path, backend), progress=False) as retriever:
            results[backend] = retriever.search(QUERIES + ["sleeping", "stars"], k=6,
                                                exact=True)
    edge, local = (results[b] for b in BACKENDS)
    assert [[h.chunk_id for h in hits] for hits in edge] == [
        [h.chunk_id for h in hits] for hits in local]
    for a, b in zip(edge, local, strict=True):
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
        assert [(h.doc_id, h.chunk_index, h.text) for h in a] == [
            (h.doc_id, h.chunk_index, h.text) for h in b]


def test_score_threshold_drops_weak_hits(tmp_path, embedder):
    with open_retriever(corpus_spec(tmp_path), progress=False) as retriever:
        hits = retriever.search(["Which planet has rings?"], k=20)[0]
        cut = retriever.search(["Which planet has rings?"], k=20, score_threshold=0.3)[0]
    assert len(cut) < len(hits) and cut and all(h.score >= 0.3 for h in cut)
    assert [h.chunk_id for h in cut] == [h.chunk_id for h in hits[:len(cut)]]


# ---- chunking ----------------------------------------------------------------------------------

def words(text: str):
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_chunks_pack_whole_paragraphs_overlap_and_split_only_overlong_paragraphs():
    para = lambda tag, n: " ".join(f"{tag}{i}" for i in range(n))  # noqa: E731
    text = "\n\n".join([para("a", 5), para("b", 4), para("c", 25), para("d", 3)])
    chunks = chunk_text(text, words, chunk_tokens=10, chunk_overlap=3)
    assert [c.text for c in chunks] == [
        "a0 a1 a2 a3 a4\n\nb0 b1 b2 b3",  # two whole paragraphs
        "b1 b2 b3\n\nc0 c1 c2 c3 c4 c5 c6",  # 3 tokens of overlap, then c is split by tokens
        "c4 c5 c6 c7 c8 c9 c10 c11 c12 c13",
        "c11 c12 c13 c14 c15 c16 c17 c18 c19 c20",
        "c18 c19 c20 c21 c22 c23 c24\n\nd0 d1 d2",
    ]
    assert all(c.token_count <= 10 for c in chunks)
    # a paragraph that fits a chunk by itself is kept whole: the overlap shrinks instead
    whole = chunk_text(para("x", 8) + "\n\n" + para("y", 9), words, 10, 3)
    assert [c.text for c in whole] == [para("x", 8), "x7\n\n" + para("y", 9)]
    assert chunk_text(" \n\n \n", words, 10, 3) == []
    assert paragraphs("\n\n one \n \n\ntwo\n") == [(3, 6), (11, 14)]


def test_real_tokenizer_chunks_respect_paragraphs_overlap_and_the_token_limit(embedder):
    tokenizer = embedder.tokenizer
    count = lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    paras = [f"Paragraph {i} talks about topic number {i}, " + "with several words " * (i + 2)
             for i in range(8)] + ["an overlong paragraph " * 40]
    text = "\n\n".join(p.strip() for p in paras)
    chunks = chunk_text(text, embedder, chunk_tokens=48, chunk_overlap=8)
    assert len(chunks) > 3
    assert max(count(c.text) for c in chunks) <= 48
    assert all(c.token_count <= 48 for c in chunks)
    spans = paragraphs(text)
    split = 0
    for c in chunks:
        starts_inside = [s for s, e in spans if s < c.start < e]
        ends_inside = [s for s, e in spans if s < c.end < e]
        if ends_inside:  # a chunk ends mid-paragraph only inside the overlong paragraph
            assert ends_inside == [spans[-1][0]]
            split += 1
        assert len(starts_inside) <= 1  # starts on a boundary, or inside one (the overlap)
    assert split >= 2
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end  # consecutive chunks overlap
        shared = text[nxt.start:prev.end]
        assert 0 < count(shared) <= 8 + 1


# ---- metrics -----------------------------------------------------------------------------------

def test_retrieval_metrics_count_documents_once_against_hand_computed_values():
    # chunk doc ids, best first: "a" appears twice and counts once at its best rank
    retrieved = ["x", "a", "a", "y", "b", "z"]
    assert ranked_documents(retrieved) == ["x", "a", "y", "b", "z"]
    gold = {"a", "b", "c"}
    assert recall_at_k(retrieved, gold, 2) == pytest.approx(1 / 3)
    assert recall_at_k(retrieved, gold, 3) == pytest.approx(1 / 3)  # a duplicate is no new doc
    assert recall_at_k(retrieved, gold, 4) == pytest.approx(2 / 3)
    assert reciprocal_rank(retrieved, gold) == pytest.approx(1 / 2)
    assert reciprocal_rank(["x", "y"], gold) == 0.0
    assert reciprocal_rank(retrieved, gold, k=1) == 0.0
    # DCG@4 = 1/log2(3) + 1/log2(5); ideal (3 gold) = 1 + 1/log2(3) + 1/2
    expected = (0.6309297535714575 + 0.43067655807339306) / (1 + 0.6309297535714575 + 0.5)
    assert ndcg_at_k(retrieved, gold, 4) == pytest.approx(expected)
    # counted in chunks, "b" would sit at rank 3, outside k=2; in documents it is rank 2
    assert ndcg_at_k(["a", "a", "b"], {"a", "b"}, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {"a"}, 10) == 1.0
    means = retrieval_metrics([retrieved, ["c"], ["q"]], [gold, {"c"}, set()], k=4)
    assert means == pytest.approx({"recall@4": (2 / 3 + 1) / 2, "mrr": (0.5 + 1) / 2,
                                   "ndcg@4": (expected + 1) / 2, "queries": 2.0})


# ---- configuration -----------------------------------------------------------------------------

def test_corpus_spec_types_its_retriever_by_kind_through_the_registry(tmp_path):
    assert {"qdrant_edge", "qdrant_server"} <= set(RETRIEVERS.kinds())
    assert CorpusSpec(path="kb").retriever.kind == "qdrant_edge"
    server = CorpusSpec.model_validate({"path": "kb", "retriever": {
        "kind": "qdrant_server", "url": "http://qdrant:6333", "api_key_env": "QDRANT_KEY"}})
    assert type(server.retriever).__name__ == "QdrantServerSpec"
    assert server.model_dump()["retriever"]["url"] == "http://qdrant:6333"
    assert CorpusSpec.model_validate(server.model_dump()) == server
    schema = CorpusSpec.model_json_schema()["properties"]["retriever"]
    assert {s["title"] for s in schema["oneOf"]} >= {"QdrantEdgeSpec", "QdrantServerSpec"}
    from pydantic import ValidationError

    for bad, location in [({"kind": "qdrant_serverr"}, ("retriever",)),
                          ({"kind": "qdrant_server"}, ("retriever",)),
                          ({"kind": "qdrant_edge", "hnsw_mm": 4}, ("retriever", "hnsw_mm"))]:
        with pytest.raises(ValidationError) as exc:
            CorpusSpec.model_validate({"path": "kb", "retriever": bad})
        assert exc.value.errors()[0]["loc"] == location
    with pytest.raises(ValidationError, match="did you mean 'qdrant_server'"):
        CorpusSpec.model_validate({"path": "kb", "retriever": {"kind": "qdrant_serverr"}})
    with pytest.raises(ValidationError, match="chunk_overlap"):
        CorpusSpec(path="kb", chunk_tokens=16, chunk_overlap=16)


def test_default_index_folder_is_under_the_harness_cache_and_keyed_by_location(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    kb = write_docs(tmp_path / "kb", {"a.md": "alpha"})
    plan = plan_index(CorpusSpec(path=str(kb)))
    assert plan.index_dir.parent == tmp_path / "cache" / "indexes"
    (kb / "a.md").write_text("changed", encoding="utf-8")  # content is not part of the folder
    assert plan_index(CorpusSpec(path=str(kb))).index_dir == plan.index_dir
    assert plan_index(CorpusSpec(path=str(kb), chunk_tokens=64)).index_dir != plan.index_dir


# ---- bad input: one line each ------------------------------------------------------------------

def test_a_missing_corpus_folder_is_one_data_error_line(tmp_path):
    with pytest.raises(DataError) as exc:
        build_index(CorpusSpec(path=str(tmp_path / "nowhere"), index_dir=str(tmp_path / "i")))
    assert f"{tmp_path / 'nowhere'} does not exist" in one_line(exc)
    assert exc.value.exit_code == 3


def test_an_empty_corpus_folder_is_one_data_error_line(tmp_path):
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError) as exc:
        load_corpus(tmp_path / "kb")
    assert one_line(exc) == f"corpus folder {tmp_path / 'kb'} has no .md or .txt files"


def test_a_non_utf8_file_is_named_in_one_data_error_line(tmp_path):
    kb = write_docs(tmp_path / "kb", {"good.md": "fine"})
    (kb / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(DataError) as exc:
        load_corpus(kb)
    message = one_line(exc)
    assert str(kb / "latin1.txt") in message and "not UTF-8" in message and "0xe9" in message


@pytest.mark.parametrize(("line", "expected"), [
    ('["a list"]', "expected a JSON object with `id` and `text`, got list"),
    ('{"id": "x"}', "missing `text`"),
    ('{"text": "no id"}', "missing `id`"),
    ('{"id": "x", "text": 3}', "`text` must be a string"),
    ('{"id": "x", "text": "t", "metadata": [1]}', "`metadata` must be an object"),
    ('{"id": "r1", "text": "again"}', "duplicate id 'r1' (first on line 1)"),
    ("{not json", "not valid JSON"),
])
def test_a_bad_jsonl_record_is_one_data_error_line_with_file_and_line(tmp_path, line, expected):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "r1", "text": "ok"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_corpus(path)
    message = one_line(exc)
    assert message.startswith(f"{path}:3: ") and expected in message


def test_a_missing_embedder_folder_is_one_model_error_line(tmp_path):
    kb = write_docs(tmp_path / "kb", {"a.md": "alpha"})
    with pytest.raises(ModelError) as exc:
        build_index(CorpusSpec(path=str(kb), embedder=str(tmp_path / "no-model")))
    assert one_line(exc) == f"corpus.embedder: embedder folder {tmp_path / 'no-model'} does " \
                            "not exist"
    assert exc.value.exit_code == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vector_size_mismatch_with_an_existing_index_is_one_config_error_line(
        tmp_path, embedder, backend):
    spec = corpus_spec(tmp_path, backend)
    plan = plan_index(spec)
    with spec.retriever.open(plan.context) as store:
        store.create(8)  # an index made with an 8-d embedder
        location = store.location
    with pytest.raises(ConfigError) as exc:
        build_index(spec, progress=False)
    message = one_line(exc)
    assert location in message and "size 8" in message and "gives 384" in message
    assert exc.value.exit_code == 2


def test_an_unreachable_server_fails_within_the_timeout_with_one_engine_error_line(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kb = write_docs(tmp_path / "kb", {"a.md": "alpha"})
    spec = CorpusSpec(path=str(kb), index_dir=str(tmp_path / "i"), retriever={
        "kind": "qdrant_server", "url": f"http://127.0.0.1:{port}", "timeout_s": 2})
    started = time.monotonic()
    with pytest.raises(EngineError) as exc:
        build_index(spec, progress=False)
    assert time.monotonic() - started < 10
    message = one_line(exc)
    assert f"qdrant server http://127.0.0.1:{port}" in message and exc.value.exit_code == 5


def test_errors_are_harness_errors_never_tracebacks_for_a_file_as_corpus(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(HarnessError) as exc:
        load_corpus(path)
    assert "expected a folder of .md/.txt files or a .jsonl file" in one_line(exc)


def test_opening_an_index_that_was_never_built_is_one_config_error_line(tmp_path):
    spec = corpus_spec(tmp_path)
    with pytest.raises(ConfigError) as exc:
        open_retriever(spec, build=False)
    assert "has not been built" in one_line(exc) and spec.index_dir in one_line(exc)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named_in_one_data_error_line(tmp_path):
    kb = write_docs(tmp_path / "kb", {"a.md": "alpha", "secret.md": "beta"})
    (kb / "secret.md").chmod(0)
    try:
        with pytest.raises(DataError) as exc:
            load_corpus(kb)
    finally:
        (kb / "secret.md").chmod(0o644)
    assert str(kb / "secret.md") in one_line(exc) and "cannot read" in one_line(exc)
