"""Regenerate the table in docs/errors.md: every bad-input case, run through the real CLI.

    .venv/bin/python scripts/bad_input_table.py > /tmp/table.md

Each case writes a small suite (plus the files it needs) into a temporary folder, runs
`harness validate` or `harness run` on it and prints the exit code and the one error line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(tempfile.mkdtemp(prefix="harness-bad-inputs-"))
BASE = {"name": "s", "golden_sets": [{"path": "g.jsonl"}], "engine": {"kind": "scripted"},
        "arms": [{"name": "p", "kind": "prompt"}], "scorers": ["exact_match"],
        "output": {"runs_dir": "runs", "reports_dir": "reports"}}
API = {"kind": "openai", "url": "http://127.0.0.1:9", "model": "m"}
ON_API = [{"name": "p", "kind": "prompt", "engine": "api"}]
KB = {"kb": {"path": "kb"}}
ON_KB = [{"name": "r", "kind": "rag", "corpus": "kb"}]
CONTEXT_SCORER = ("from harness.scoring import scorer\n"
                  "@scorer('ctx_doc', needs=('context',))\n"
                  "def ctx():\n    return lambda s: 1.0\n")


def golden(path: Path, rows: list[dict] | None = None) -> None:
    rows = rows or [{"id": "q1", "instruction": "hi", "output": "hi"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write(name: str, text: str | bytes) -> Callable[[Path], Any]:
    def setup(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return setup


def empty_folder(name: str) -> Callable[[Path], Any]:
    return lambda folder: (folder / name).mkdir()


CASES: list[tuple[str, dict[str, Any]]] = [
    ("unknown top-level field", {"suite": {"nmae": "x"}}),
    ("YAML syntax error", {"raw": "name: [unclosed\n"}),
    ("suite file not UTF-8", {"raw": b"name: caf\xe9\n"}),
    ("YAML tag that would run code", {"raw": "name: !!python/object/apply:os.system [ls]\n"}),
    ("unknown engine kind", {"suite": {"engine": {"kind": "vlm"}}}),
    ("unknown arm kind", {"suite": {"arms": [{"name": "x", "kind": "magic"}]}}),
    ("a tuned arm's `prompt: 3`",
     {"suite": {"arms": [{"name": "t", "kind": "tuned", "adapter": "a", "prompt": 3}]}}),
    ("duplicate arm names", {"suite": {"arms": [{"name": "p", "kind": "prompt"}] * 2}}),
    ("arm on an unknown engine",
     {"suite": {"arms": [{"name": "p", "kind": "prompt", "engine": "frontier"}]}}),
    ("adapter on an engine that cannot serve adapters",
     {"suite": {"engines": {"api": API},
                "arms": [{"name": "t", "kind": "tuned", "adapter": ".", "engine": "api"}]}}),
    ("missing API-key variable",
     {"suite": {"engines": {"api": {**API, "api_key_env": "NO_SUCH_KEY_VAR"}}, "arms": ON_API}}),
    ("engine URL that is not http(s)",
     {"suite": {"engines": {"api": {**API, "url": "ftp://x"}}, "arms": ON_API}}),
    ("unreachable URL (run; a timeout, not a hang)",
     {"suite": {"engines": {"api": {**API, "connect_timeout_s": 2}}, "arms": ON_API},
      "cmd": ["run"]}),
    ("model folder missing", {"suite": {"model": {"base": "./no-model"},
                                        "engine": {"kind": "local"}}}),
    ("adapter folder missing",
     {"suite": {"arms": [{"name": "t", "kind": "tuned", "adapter": "adapters/none"}]}}),
    ("golden set file missing", {"suite": {"golden_sets": [{"path": "nope.jsonl"}]}}),
    ("golden set not UTF-8 (run)",
     {"setup": write("g.jsonl", b'{"id":"a","instruction":"caf\xe9","output":"x"}\n'),
      "cmd": ["run"]}),
    ("golden set line that is not JSON (run)",
     {"setup": write("g.jsonl", '{"id": "a",\n'), "cmd": ["run"]}),
    ("golden set with duplicate ids (run)",
     {"setup": write("g.jsonl", '{"id":"a","instruction":"x","output":"y"}\n' * 2),
      "cmd": ["run"]}),
    ("unknown scorer", {"suite": {"scorers": ["exakt_match"]}}),
    ("unknown scorer option",
     {"suite": {"scorers": [{"name": "f", "kind": "token_f1", "options": {"feild": "x"}}]}}),
    ("scorer module that does not import",
     {"suite": {"scorers": [{"name": "f", "kind": "no_such_mod:fn"}]}}),
    ("scorer file without the named function",
     {"suite": {"scorers": [{"name": "f", "kind": "s.py:missing"}]},
      "setup": write("s.py", "x = 1\n")}),
    ("scorer needing context on an arm without retrieval",
     {"suite": {"scorers": [{"name": "f", "kind": "s.py:ctx"}]},
      "setup": write("s.py", CONTEXT_SCORER)}),
    ("scorer with the wrong signature",
     {"suite": {"scorers": [{"name": "f", "kind": "s.py:f"}]},
      "setup": write("s.py", "def f(a, b, c):\n    return 1.0\n")}),
    ("judge on an unknown engine", {"suite": {"judges": {"j": {"engine": "nope"}}}}),
    ("rubric template without a placeholder it needs",
     {"suite": {"judges": {"j": {"template": "Rate: {answer}"}}}}),
    ("pairwise judge in a threshold gate",
     {"suite": {"judges": {"j": {"kind": "pairwise", "pairs": [["p", "p2"]]}},
                "arms": [{"name": "p", "kind": "prompt"}, {"name": "p2", "kind": "prompt"}],
                "gates": [{"type": "threshold", "arm": "p", "scorer": "j", "min": 0.5}]}}),
    ("judge engine without its API key",
     {"suite": {"engines": {"api": {**API, "api_key_env": "NO_SUCH_KEY_VAR"}},
                "judges": {"j": {"engine": "api"}}}}),
    ("unreachable judge endpoint (run)",
     {"suite": {"engines": {"api": {**API, "retries": 0, "connect_timeout_s": 2}},
                "judges": {"j": {"engine": "api"}}}, "cmd": ["run"]}),
    ("gate on an unknown arm",
     {"suite": {"gates": [{"type": "beats", "arm": "nope", "baseline": "p"}]}}),
    ("gate field its type does not use",
     {"suite": {"gates": [{"type": "threshold", "arm": "p", "scorer": "exact_match",
                           "min": 0.5, "max_drop": 0.1}]}}),
    ("max_drop out of range",
     {"suite": {"gates": [{"type": "not_worse", "arm": "p", "baseline": "p",
                           "max_drop": "200 points"}]}}),
    ("corpus folder missing", {"suite": {"corpora": KB, "arms": ON_KB}}),
    ("corpus folder empty", {"suite": {"corpora": KB, "arms": ON_KB},
                             "setup": empty_folder("kb")}),
    ("corpus file not UTF-8", {"suite": {"corpora": KB, "arms": ON_KB},
                               "setup": write("kb/page.txt", b"caf\xe9\n")}),
    ("embedder not found",
     {"suite": {"corpora": {"kb": {"path": "kb", "embedder": "no-embedder"}}, "arms": ON_KB},
      "setup": write("kb/page.md", "text\n")}),
    ("Qdrant server URL that does not answer (run; a timeout, not a hang)",
     {"suite": {"corpora": {"kb": {"path": "kb", "retriever": {
         "kind": "qdrant_server", "url": "http://127.0.0.1:9", "timeout_s": 2}}},
                "arms": ON_KB},
      "setup": write("kb/page.md", "text\n"), "cmd": ["run"]}),
    ("arm retrieving from a corpus the suite does not define",
     {"suite": {"arms": [{"name": "r", "kind": "rag", "corpus": "books"}]}}),
    ("RAG template with an unknown placeholder",
     {"suite": {"corpora": KB, "arms": [{**ON_KB[0], "query_template": "{query}"}]},
      "setup": write("kb/page.md", "text\n")}),
    ("JSON schema that is not valid JSON Schema",
     {"suite": {"engine": {"kind": "local"}, "arms": [{"name": "p", "kind": "prompt",
                "response_format": {"json_schema": {"type": "objekt"}}}]}}),
    ("constrained decoding asked of an engine that cannot do it",
     {"suite": {"arms": [{"name": "p", "kind": "prompt",
                          "response_format": {"regex": "[0-9]+"}}]}}),
    ("ladder rung that is not an arm", {"suite": {"ladder": ["p", "nope"], "gates": [
        {"type": "threshold", "scorer": "exact_match", "min": 0.5}]}}),
    ("negative --max-cost", {"cmd": ["run", "--max-cost", "-1"]}),
    ("report of a folder that is not a run", {"cmd": ["report", "{dir}"]}),
]


def run_case(index: int, spec: dict[str, Any]) -> tuple[int, str]:
    folder = ROOT / str(index)
    folder.mkdir()
    golden(folder / "g.jsonl")
    if "setup" in spec:
        spec["setup"](folder)
    suite = folder / "suite.yaml"
    raw = spec.get("raw")
    if raw is not None:
        suite.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    else:
        suite.write_text(yaml.safe_dump({**BASE, **spec.get("suite", {})}, sort_keys=False))
    cmd = spec.get("cmd", ["validate"])
    args = ([a.replace("{dir}", str(folder)) for a in cmd] if "{dir}" in cmd
            else [cmd[0], str(suite), *cmd[1:]])
    done = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ), timeout=120)
    output = done.stderr + done.stdout
    errors = [line for line in output.splitlines() if line.lower().startswith("error")]
    message = errors[0] if errors else output.strip().splitlines()[-1]
    return done.returncode, message.replace(str(folder), "DIR")


def main() -> None:
    print("| case | exit | message |")
    print("|---|---|---|")
    for index, (title, spec) in enumerate(CASES):
        code, message = run_case(index, spec)
        print(f"| {title} | {code} | `{message.replace('|', '/')}` |")


if __name__ == "__main__":
    main()
