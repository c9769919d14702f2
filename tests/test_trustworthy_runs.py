"""No stale answer, no lost or mixed-up result: each failure a new user hit, through the CLI.

Most use the scripted engine (the CLI, the store and the runner are what is under test); the
model-identity test uses a real (tiny, random) transformers model on the local engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.store import JsonlAppender, load_run, read_jsonl_checked
from tests.conftest import REPO

ROWS = [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"} for i in range(4)]


def write_golden(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_suite(tmp_path: Path, **extra) -> Path:
    if not (tmp_path / "golden.jsonl").exists():
        write_golden(tmp_path / "golden.jsonl", ROWS)
    suite = {"name": "trust", "golden_sets": [{"path": "golden.jsonl"}],
             "engine": {"kind": "scripted", "default": "{user}"},
             "arms": [{"name": "p", "kind": "prompt", "system_prompt_file": "prompt.txt"}],
             "scorers": ["exact_match"],
             "output": {"runs_dir": "runs", "reports_dir": "reports"}, **extra}
    if not (tmp_path / "prompt.txt").exists():
        (tmp_path / "prompt.txt").write_text("Repeat the request.")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def interrupt(run_dir: Path, keep_responses: int) -> None:
    """What a killed run leaves: status 'interrupted', only some responses, no scores."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    lines = (run_dir / "responses.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "responses.jsonl").write_text("".join(lines[:keep_responses]))
    (run_dir / "scores.jsonl").write_text("")


def runs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs" / "trust").iterdir())


def test_a_fixed_golden_reference_is_never_served_from_the_interrupted_run(tmp_path):
    write_golden(tmp_path / "golden.jsonl", [{**ROWS[0], "output": "wrong"}, *ROWS[1:]])
    suite = write_suite(tmp_path)
    invoke("run", str(suite))
    (first,) = runs(tmp_path)
    interrupt(first, keep_responses=2)
    write_golden(tmp_path / "golden.jsonl", ROWS)  # the reference of q0 fixed
    _code, output = invoke("run", str(suite))
    assert "was not resumed: golden set golden changed" in output
    latest = runs(tmp_path)[-1]
    assert latest != first
    scores = load_run(latest).scores.set_index("uid")["value"]
    assert scores["golden/q0"] == 1.0  # scored against the new reference
    assert "4 from cache, 0 generated" in output  # the cache still serves every response


def test_an_edited_prompt_file_starts_a_new_run_and_regenerates(tmp_path):
    suite = write_suite(tmp_path)
    invoke("run", str(suite))
    (first,) = runs(tmp_path)
    interrupt(first, keep_responses=2)
    (tmp_path / "prompt.txt").write_text("Repeat the request, loudly.")
    _code, output = invoke("run", str(suite))
    assert "arm p changed" in output
    assert "0 from cache, 4 generated" in output  # the messages changed: nothing is stale
    assert runs(tmp_path)[-1] != first


def test_limit_on_an_interrupted_run_does_not_mark_a_partial_run_complete(tmp_path):
    suite = write_suite(tmp_path)
    invoke("run", str(suite), "--limit", "2")
    (limited,) = runs(tmp_path)
    interrupt(limited, keep_responses=1)
    _code, _output = invoke("run", str(suite))
    latest = runs(tmp_path)[-1]
    assert latest != limited
    run = load_run(latest)
    assert run.complete and len(run.examples) == 4 and len(run.responses) == 4
    assert json.loads((limited / "manifest.json").read_text())["status"] == "interrupted"


def test_an_unchanged_interrupted_run_resumes_in_place(tmp_path):
    suite = write_suite(tmp_path)
    invoke("run", str(suite))
    (first,) = runs(tmp_path)
    interrupt(first, keep_responses=2)
    _code, output = invoke("run", str(suite))
    assert output.startswith("resumed") or "\nresumed " in output, output
    assert runs(tmp_path) == [first]
    assert len(load_run(first).responses) == 4


def test_a_golden_set_that_is_not_utf8_names_the_file_and_line(tmp_path):
    suite = write_suite(tmp_path)
    with open(tmp_path / "golden.jsonl", "ab") as f:
        f.write(b'{"id": "bad", "instruction": "caf\xe9", "output": "x"}\n')
    code, output = invoke("run", str(suite))
    assert code == 3
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "golden.jsonl:5: not UTF-8 text" in lines[0], output


def test_a_suite_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    code, output = invoke("validate", str(path))
    assert code == 2 and "not UTF-8 text" in output and "Traceback" not in output


# ---- torn writes --------------------------------------------------------------------------

def test_a_tear_inside_a_multibyte_character_leaves_the_run_readable(tmp_path):
    suite = write_suite(tmp_path)
    invoke("run", str(suite))
    (run_dir,) = runs(tmp_path)
    path = run_dir / "responses.jsonl"
    size = path.stat().st_size
    record = json.dumps({"arm": "p", "uid": "golden/q9", "text": "日本語"}, ensure_ascii=False)
    blob = record.encode("utf-8")
    cut = blob.index("本".encode()) + 1  # in the middle of a 3-byte character
    with open(path, "ab") as f:
        f.write(blob[:cut])
    run = load_run(run_dir)
    assert len(run.responses) == 4
    assert run.torn_lines["responses.jsonl"] == [size]  # reported with its byte offset
    JsonlAppender(path).close()  # the next writer ends the torn line before appending
    assert len(read_jsonl_checked(path).records) == 4


def test_a_short_write_on_a_full_disk_leaves_no_glued_records(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse the write past a size, as a full disk does."""
    path = tmp_path / "r.jsonl"
    script = (
        "import resource, signal, sys\n"
        "from harness.store import JsonlAppender\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "w = JsonlAppender(__import__('pathlib').Path(sys.argv[1]))\n"
        "w.append({'n': 1, 'pad': 'x' * 50})\n"
        "hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))\n"
        "try:\n"
        "    w.append({'n': 2, 'pad': 'y' * 200})\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))\n"
        "w.append({'n': 3})\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "refused" in out.stdout
    read = read_jsonl_checked(path)
    assert [r["n"] for r in read.records] == [1, 3] and read.torn_offsets == []


# ---- two runs of one suite at once -----------------------------------------------------------

def start_cli(suite: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "COLUMNS": "200"})


def test_two_runs_of_one_suite_at_once_never_share_a_run_directory(tmp_path):
    write_golden(tmp_path / "golden.jsonl",
                 [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"}
                  for i in range(12)])
    suite = write_suite(tmp_path, engine={"kind": "scripted", "default": "{user}",
                                          "delay_s": 0.25})
    first = start_cli(suite)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("runs/trust/*/responses.jsonl")):
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "harness", "run", str(suite)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    separate = start_cli(suite, "--new-run")
    out_first, _ = first.communicate(timeout=120)
    out_sep, _ = separate.communicate(timeout=120)
    assert first.returncode == 0, out_first
    assert separate.returncode == 0, out_sep
    # The second one either found the live run locked (one line, exit 6)...
    if second.returncode != 0:
        assert second.returncode == 6, second.stdout + second.stderr
        assert "is being written by another harness run" in second.stderr
    dirs = runs(tmp_path)
    assert len(dirs) >= 2
    for run_dir in dirs:
        run = load_run(run_dir)
        assert run.complete
        assert sorted(run.responses["uid"]) == sorted(run.examples["uid"])  # each once
        lines = read_jsonl_checked(run_dir / "responses.jsonl")
        assert len(lines.records) == 12 and lines.torn_offsets == []


# ---- model identity is the weights, not the folder --------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, default_model) -> Path:
    """A real Llama with random weights (2 layers, 64 wide) and SmolLM2's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_new_weights_in_the_same_model_folder_miss_the_cache(tmp_path, tiny_model):
    import shutil

    import torch
    from transformers import LlamaForCausalLM

    model_dir = tmp_path / "merged"
    shutil.copytree(tiny_model, model_dir)
    suite = write_suite(tmp_path, model={"base": "merged", "dtype": "float32"},
                        engine={"kind": "local"}, generation={"max_tokens": 4})
    _code, output = invoke("run", str(suite))
    assert "0 from cache, 4 generated" in output, output
    # A retrained adapter merged into the same folder: same files, same sizes, new weights.
    model = LlamaForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    model.save_pretrained(model_dir)
    _code, output = invoke("run", str(suite))
    assert "0 from cache, 4 generated" in output, output
    _code, output = invoke("run", str(suite))
    assert "4 from cache, 0 generated" in output, output
