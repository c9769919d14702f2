"""The RAG arm and tuned+RAG over the real embedder and the real embedded Qdrant engine: the
passages go into the prompt with their ids, are recorded per example, retrieval is cached per
query, a corpus edit redoes only what it changed, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.arms.base import ArmContext
from harness.runner import resolve_engines, run_suite
from harness.spec.suite import load_suite
from harness.store import load_run
from tests.cli_helpers import invoke, one_line
from tests.test_adapters_io import write_adapter

DOCS = {
    "bikes.md": "# Bikes\n\nFull-size bikes are not allowed on trams or buses. Folded bikes "
                "are allowed at any time.",
    "fares.md": "# Fares\n\nAn adult single fare costs 2.40 credits with a Glow card. Children "
                "pay 1.20 credits.",
    "pets.md": "# Pets\n\nSmall dogs in a carrier travel free. Large dogs need a muzzle and a "
               "lead on every vehicle.",
}
GOLDEN = [
    {"id": "bike", "instruction": "Can I take my bicycle on the tram?",
     "output": "Only folded bikes.", "gold_doc_ids": ["bikes.md"]},
    {"id": "fare", "instruction": "How much does an adult single ticket cost?",
     "output": "2.40 credits.", "gold_doc_ids": ["fares.md"]},
    {"id": "dog", "instruction": "Can my big dog ride the bus?",
     "output": "Yes, with a muzzle and a lead.", "gold_doc_ids": ["pets.md"]},
    {"id": "none", "instruction": "What is the capital of France?", "output": "Paris"},
]
SCRIPTED = {"kind": "scripted", "default": "{user}"}


def write_suite(tmp_path: Path, arms: list[dict[str, Any]] | None = None,
                corpus: dict[str, Any] | None = None, **extra: Any) -> Path:
    kb = tmp_path / "kb"
    if not kb.exists():
        kb.mkdir()
        for name, text in DOCS.items():
            (kb / name).write_text(text, encoding="utf-8")
    (tmp_path / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GOLDEN))
    suite = {
        "name": "rag", "engine": SCRIPTED, "golden_sets": [{"path": "golden.jsonl"}],
        "corpora": {"kb": corpus or {"path": "kb", "chunk_tokens": 64, "chunk_overlap": 8,
                                     "index_dir": "index"}},
        "arms": arms or [
            {"name": "prompt", "kind": "prompt", "system_prompt": "Be brief."},
            {"name": "rag", "kind": "rag", "corpus": "kb", "prompt": "prompt", "top_k": 1}],
        "scorers": ["token_f1"],
        "output": {"runs_dir": "runs", "reports_dir": "reports"},
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def responses_of(run_dir: Path, arm: str) -> dict[str, dict]:
    lines = [json.loads(x) for x in (run_dir / "responses.jsonl").read_text().splitlines()]
    return {r["example_id"]: r for r in lines if r["arm"] == arm}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rag")
    path = write_suite(tmp_path)
    result = run_suite(load_suite(path))
    return tmp_path, path, result


def test_rag_arm_puts_the_retrieved_passages_with_their_ids_into_the_prompt(first_run):
    _, _, result = first_run
    rag = responses_of(result.run_dir, "rag")
    # The scripted engine echoes the user turn: it is the prompt as sent.
    assert "[bikes.md] # Bikes" in rag["bike"]["text"]
    assert rag["bike"]["text"].endswith("Question: Can I take my bicycle on the tram?")
    assert "[fares.md]" in rag["fare"]["text"] and "[pets.md]" in rag["dog"]["text"]
    plain = responses_of(result.run_dir, "prompt")
    assert plain["bike"]["text"] == "Can I take my bicycle on the tram?"
    assert "contexts" not in plain["bike"]


def test_rag_arm_records_retrieved_ids_scores_and_text_per_example(first_run):
    _, _, result = first_run
    rag = responses_of(result.run_dir, "rag")
    (context,) = rag["bike"]["contexts"]
    assert context["doc_id"] == "bikes.md" and context["source"] == "bikes.md"
    assert 0.0 < context["score"] <= 1.0 and "Folded bikes" in context["text"]
    examples = [json.loads(x) for x in (result.run_dir / "examples.jsonl").read_text()
                .splitlines()]
    assert {e["id"]: e.get("gold_doc_ids") for e in examples}["fare"] == ["fares.md"]
    manifest = load_run(result.run_dir).manifest
    arm = next(a for a in manifest.arms if a.name == "rag")
    assert arm.has_retrieval and arm.detail["retrieval"]["k"] == 1
    assert arm.detail["retrieval"]["index"]


def test_report_shows_recall_at_k_and_the_sources_next_to_answers(first_run):
    tmp_path, _, result = first_run
    from rich.console import Console

    from harness.cli.finish import finish_run

    finish_run(result.run_dir, tmp_path / "reports", console=Console(quiet=True))
    report = next((tmp_path / "reports").glob("*.md")).read_text()
    section = report.split("## Retrieval")[1].split("\n## ")[0]
    assert "| rag | 1 | 3 | 1.000 | 1.000 | 1.000 | 1.0 |" in section
    assert "bikes.md (" in section and "✓" in section


def test_a_second_run_retrieves_from_the_cache_without_loading_the_embedder(first_run):
    tmp_path, path, _ = first_run
    import subprocess
    import sys

    code = ("import sys, json; from harness.runner import run_suite; "
            "from harness.spec.suite import load_suite; "
            f"r = run_suite(load_suite({str(path)!r}), new_run=True); "
            "print(json.dumps({'counts': r.counts, "
            "'st': 'sentence_transformers' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["counts"]["cached_retrievals"] == data["counts"]["retrieval_queries"] == 4
    assert data["counts"]["generated_responses"] == 0
    assert data["st"] is False


def test_a_corpus_edit_re_embeds_that_file_and_regenerates_only_examples_it_changed(tmp_path):
    path = write_suite(tmp_path)
    run_suite(load_suite(path))
    (tmp_path / "kb" / "pets.md").write_text(
        "# Pets\n\nSmall dogs in a carrier travel free. Large dogs need a muzzle, a lead and "
        "a ticket on every vehicle.", encoding="utf-8")
    counts = run_suite(load_suite(path)).counts
    assert counts["indexed_chunks"] == 1  # only the edited file's chunk was embedded
    # The dog question retrieves the edited page; "none" may too (it retrieves the nearest
    # page, whatever it is): every other example keeps its prompt and is served from cache.
    assert 1 <= counts["generated_responses"] <= 2
    assert counts["cached_responses"] == counts["responses"] - counts["generated_responses"]


def test_tuned_rag_arm_sends_the_rag_prompt_with_the_adapter(tmp_path):
    write_adapter(tmp_path / "adapter")
    path = write_suite(tmp_path, arms=[
        {"name": "prompt", "kind": "prompt", "system_prompt": "Be brief."},
        {"name": "rag", "kind": "rag", "corpus": "kb", "prompt": "prompt", "top_k": 2},
        {"name": "tuned_rag", "kind": "tuned", "adapter": "adapter", "prompt": "rag"}])
    suite = load_suite(path)
    ctx = ArmContext(suite, resolve_engines(suite))
    try:
        arm = ctx.arm("tuned_rag")
        from harness.golden import load_golden_set

        examples = load_golden_set(tmp_path / "golden.jsonl").examples
        arm.prepare(examples)
        request = arm.build(examples[0])
    finally:
        ctx.close()
    assert arm.roles.has_adapter and arm.roles.has_retrieval
    assert request.adapter is not None and len(request.contexts) == 2
    assert request.contexts[0].doc_id == "bikes.md"
    assert request.messages[0] == {"role": "system", "content": "Be brief."}
    assert "[bikes.md]" in request.messages[-1]["content"]


def test_system_placement_and_custom_templates_render_where_asked(tmp_path):
    path = write_suite(tmp_path, arms=[
        {"name": "rag", "kind": "rag", "corpus": "kb", "top_k": 1, "placement": "system",
         "context_template": "Facts:\n{context}", "chunk_template": "<{rank}|{doc_id}> {text}"}])
    suite = load_suite(path)
    ctx = ArmContext(suite, resolve_engines(suite))
    try:
        from harness.golden import load_golden_set

        example = load_golden_set(tmp_path / "golden.jsonl").examples[1]
        messages = ctx.arm("rag").build(example).messages
    finally:
        ctx.close()
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("Facts:\n<1|fares.md> # Fares")
    assert messages[-1] == {"role": "user", "content": "How much does an adult single ticket "
                                                       "cost?"}


def test_harness_index_embeds_once_then_finds_everything_unchanged(tmp_path):
    path = write_suite(tmp_path)
    code, out = invoke("index", str(path))
    assert code == 0 and "3 documents, 3 chunks; embedded 3" in out, out
    code, out = invoke("index", str(path))
    assert code == 0 and "embedded 0" in out and "unchanged 3" in out, out


@pytest.mark.parametrize("change, expected, exit_code", [
    ({"arms": [{"name": "r", "kind": "rag", "corpus": "books"}]},
     "arms[0].corpus: 'books' is not a corpus of this suite; expected one of: kb", 2),
    ({"arms": [{"name": "r", "kind": "rag", "corpus": "kb", "query_template": "{query}"}]},
     "arms[0].query_template: unknown placeholder {query}; expected {question}", 2),
    ({"arms": [{"name": "r", "kind": "rag", "corpus": "kb", "context_template": "{question}"}]},
     "arms[0].context_template: the template must contain {context}", 2),
    ({"corpus": {"path": "missing"}}, "corpora.kb.path: corpus folder", 3),
    ({"corpus": {"path": "kb", "embedder": "no-such-embedder"}},
     "corpora.kb.embedder: embedder folder", 4),
    ({"arms": [{"name": "p", "kind": "prompt"},
               {"name": "r", "kind": "rag", "corpus": "kb", "prompt": "t"},
               {"name": "t", "kind": "tuned", "adapter": "adapter", "prompt": "p"}]},
     "arms[1].prompt: 't' is a tuned arm; for tuned+RAG, give the tuned arm `prompt: r`", 2),
])
def test_bad_rag_input_is_one_line_with_its_exit_code(tmp_path, change, expected, exit_code):
    write_adapter(tmp_path / "adapter")
    path = write_suite(tmp_path, **{k: v for k, v in change.items()})
    code, out = invoke("validate", str(path))
    assert code == exit_code, out
    assert expected in one_line(out), out


def test_a_non_utf8_corpus_file_is_named_in_one_line(tmp_path):
    path = write_suite(tmp_path)
    (tmp_path / "kb" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    code, out = invoke("validate", str(path))
    assert code == 3 and "latin1.txt" in one_line(out), out


def test_training_with_rag_arm_trains_on_the_rag_prompts_and_records_it(tmp_path):
    from harness.train.job import load_train_job
    from harness.train.trainer import train_adapter

    train = [{"messages": [{"role": "user", "content": q},
                           {"role": "assistant", "content": a}]}
             for q, a in [("Are bicycles allowed on buses?", "Only folded ones."),
                          ("What does a child ticket cost?", "1.20 credits."),
                          ("Do small dogs pay a fare?", "No, in a carrier they travel free."),
                          ("Is a muzzle needed for a large dog?", "Yes, and a lead.")]]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    path = write_suite(tmp_path, arms=[
        {"name": "prompt", "kind": "prompt", "system_prompt": "Be brief."},
        {"name": "rag", "kind": "rag", "corpus": "kb", "prompt": "prompt", "top_k": 1},
        {"name": "tuned_rag", "kind": "tuned", "adapter": "adapters/t", "prompt": "rag"}],
        train={"name": "t", "data": "train.jsonl", "rag_arm": "rag", "max_steps": 1,
               "batch_size": 4, "max_length": 192, "lora": {"r": 4,
                                                            "target_modules": ["q_proj"]},
               "output_dir": "adapters", "threads": 1, "quantization": "none"})
    job = load_train_job(path)
    train_adapter(job, show_progress=False)
    manifest = json.loads((job.adapter_dir / "manifest.json").read_text())
    assert manifest["rag_arm"] == "rag"
    # What was trained on is the RAG arm's prompt: system prompt, passage with its id, question.
    from harness.train.model import load_tokenizer
    from harness.train.prepare import load_and_guard, tokenize_all

    tokenizer = load_tokenizer(manifest["base_model"]["path"])
    prepared = tokenize_all(load_and_guard(job), tokenizer, job)
    text = tokenizer.decode(prepared.train[0].input_ids)
    assert "Be brief." in text and "[bikes.md]" in text
    assert "Question: Are bicycles allowed on buses?" in text


def test_rag_arm_in_train_must_name_a_rag_arm(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    path = write_suite(tmp_path, train={"name": "t", "data": "train.jsonl",
                                        "rag_arm": "prompt"})
    code, out = invoke("train", str(path), "--dry-run")
    assert code == 2, out
    assert "train.rag_arm: 'prompt' is not a RAG arm of this suite (rag)" in one_line(out)
