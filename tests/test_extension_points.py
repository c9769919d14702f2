"""One extension mechanism: kinds registered with their config, the suite schema built from the
registries, errors that point at the right line, and kind modules that never pull in torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml

from harness.engines import ENGINES
from harness.engines.base import Engine, EngineContext, EngineSpec, ResolvedEngine
from harness.runner import run_suite
from harness.spec.suite import load_suite
from harness.store import load_run
from harness.types import Request, Response
from tests.cli_helpers import invoke, one_line
from tests.conftest import REPO

SCRIPTED = {"kind": "scripted", "default": "{user}"}


def write(tmp_path, suite: dict[str, Any], golden: list[dict] | None = None) -> str:
    rows = golden or [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"}
                      for i in range(4)]
    (tmp_path / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = {"name": "ext", "golden_sets": [{"path": "golden.jsonl"}], "engine": SCRIPTED,
            "arms": [{"name": "p", "kind": "prompt"}], "scorers": ["exact_match"],
            "output": {"runs_dir": "runs", "reports_dir": "reports"}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**base, **suite}, sort_keys=False))
    return str(path)


# ---- a new engine kind, registered by a test, without editing any other file -----------------

class ShoutEngine(Engine):
    kind = "shout"

    def __init__(self, identity: dict[str, Any]):
        self._identity = identity

    def identity(self) -> dict[str, Any]:
        return self._identity

    def generate(self, requests: Sequence[Request], progress=None) -> list[Response]:
        out = []
        for i, request in enumerate(requests):
            out.append(Response(request.messages[-1]["content"].upper()))
            if progress:
                progress(i, out[-1])
        return out


@pytest.fixture
def shout_kind():
    @ENGINES.register("shout")
    class ShoutSpec(EngineSpec):
        kind: Literal["shout"]
        volume: int = 11

        serves_adapters: ClassVar[bool] = False

        def resolve(self, ctx: EngineContext) -> ResolvedEngine:
            return ResolvedEngine(ctx.name, "shout", {"kind": "shout", "volume": self.volume},
                                  "shouter")

        def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
            return ShoutEngine(resolved.identity)

    yield ShoutSpec
    ENGINES.unregister("shout")


def test_a_registered_engine_kind_is_usable_from_a_suite(shout_kind, tmp_path):
    path = write(tmp_path, {"engine": {"kind": "shout"}})
    result = run_suite(load_suite(path))
    run = load_run(result.run_dir)
    assert sorted(run.responses["text"]) == ["SAY 0", "SAY 1", "SAY 2", "SAY 3"]
    assert run.manifest.engines[0].kind == "shout"


def test_a_registered_engine_kind_is_listed_in_the_schema(shout_kind):
    code, output = invoke("schema")
    assert code == 0
    assert "ShoutSpec" in json.loads(output)["$defs"]


def test_a_registered_engine_kind_is_validated_with_line_numbered_errors(shout_kind, tmp_path):
    path = write(tmp_path, {"engine": {"kind": "shout", "volume": "loud"}})
    code, output = invoke("validate", path)
    assert code == 2
    line = one_line(output)
    assert "suite.yaml:" in line and "engine.volume:" in line and "valid integer" in line


def test_an_unknown_engine_kind_lists_the_registered_ones(tmp_path):
    code, output = invoke("validate", write(tmp_path, {"engine": {"kind": "vlm"}}))
    assert code == 2
    line = one_line(output)
    assert "engine.kind: unknown engine kind 'vlm'" in line and "(did you mean 'vllm'?)" in line
    assert "local, openai, pool, ray, scripted, vllm" in line


def test_a_tuned_arm_field_named_like_a_kind_is_reported_at_its_own_line(tmp_path):
    """`prompt` is both an arm kind and a field of the tuned arm: the error is the field's."""
    suite = {"arms": [{"name": "p", "kind": "prompt"},
                      {"name": "t", "kind": "tuned", "adapter": "a", "prompt": 3}]}
    path = write(tmp_path, suite)
    code, output = invoke("validate", path)
    assert code == 2
    line = one_line(output)
    lines = Path(path).read_text().splitlines()
    expected_line = next(i for i, text in enumerate(lines, 1) if "prompt: 3" in text)
    assert f"suite.yaml:{expected_line}: arms[1].prompt:" in line


def test_an_unknown_field_of_a_tuned_arm_suggests_the_tuned_arm_s_fields(tmp_path):
    path = write(tmp_path, {"arms": [{"name": "t", "kind": "tuned", "adapter": "a",
                                      "adaptor": "b"}]})
    line = one_line(invoke("validate", path)[1])
    assert "arms[0].adaptor: unknown field 'adaptor' (did you mean 'adapter'?)" in line


def test_an_arm_on_an_unknown_engine_is_one_line(tmp_path):
    path = write(tmp_path, {"arms": [{"name": "p", "kind": "prompt", "engine": "frontier"}]})
    code, output = invoke("validate", path)
    assert code == 2
    assert "arms[0].engine: 'frontier' is not an engine of this suite" in one_line(output)


def test_an_adapter_on_an_engine_that_cannot_serve_adapters_is_one_line(tmp_path):
    (tmp_path / "adapter").mkdir()
    path = write(tmp_path, {
        "engines": {"api": {"kind": "openai", "url": "http://127.0.0.1:9", "model": "m"}},
        "arms": [{"name": "t", "kind": "tuned", "adapter": "adapter", "engine": "api"}]})
    code, output = invoke("validate", path)
    assert code == 2
    assert "engine 'api' (openai) cannot serve adapters" in one_line(output)


def test_a_scorer_that_needs_context_is_refused_for_arms_without_retrieval(tmp_path):
    from harness.scoring import scorer

    @scorer("needs_context_for_test", needs=("context",))
    def needs_context_for_test():
        return lambda sample: 1.0

    path = write(tmp_path, {"scorers": ["needs_context_for_test"]})
    code, output = invoke("validate", path)
    assert code == 2
    assert "needs retrieved context, which arm(s) p do not give" in one_line(output)


def test_scorers_see_the_whole_sample_and_two_argument_scorers_still_work(tmp_path):
    plugin = tmp_path / "my_scorers.py"
    plugin.write_text(
        "from harness.scoring import scorer\n"
        "from harness.types import Score\n"
        "@scorer('sees_request', needs=())\n"
        "def sees_request():\n"
        "    def score(sample):\n"
        "        ok = sample.request.messages[-1]['content'] == sample.example.user_text\n"
        "        return Score(float(ok), sample.arm, answer=sample.output)\n"
        "    return score\n"
        "def old_style(example, output):\n"
        "    return float(output == example.reference)\n")
    path = write(tmp_path, {"scorers": [{"name": "s", "kind": "my_scorers.py:sees_request"},
                                        {"name": "o", "kind": "my_scorers.py:old_style"}]})
    run = load_run(run_suite(load_suite(path)).run_dir)
    s = run.scores[run.scores["scorer"] == "s"]
    assert set(s["value"]) == {1.0} and set(s["explanation"]) == {"p"}
    assert sorted(s["answer"]) == ["say 0", "say 1", "say 2", "say 3"]  # kept in scores.jsonl
    assert set(run.scores[run.scores["scorer"] == "o"]["value"]) == {1.0}


def test_arms_each_run_on_their_own_engine(tmp_path):
    path = write(tmp_path, {
        "engines": {"other": {"kind": "scripted", "default": "other says {user}",
                              "label": "other-model"}},
        "arms": [{"name": "a", "kind": "prompt"},
                 {"name": "b", "kind": "prompt", "engine": "other"}]})
    run = load_run(run_suite(load_suite(path)).run_dir)
    texts = run.responses.groupby("arm")["text"].apply(sorted).to_dict()
    assert texts["a"][0] == "say 0" and texts["b"][0] == "other says say 0"
    assert {a.name: a.model for a in run.manifest.arms} == {"a": "scripted",
                                                          "b": "other-model"}


def test_examples_with_the_same_id_in_two_golden_sets_stay_two_examples(tmp_path):
    rows = [{"id": str(i), "instruction": f"say {i}", "output": f"say {i}"} for i in range(3)]
    (tmp_path / "other.jsonl").write_text("".join(json.dumps({**r, "output": "no"}) + "\n"
                                                  for r in rows))
    path = write(tmp_path, {"golden_sets": [{"path": "golden.jsonl"}, {"path": "other.jsonl"}]},
                 golden=rows)
    run = load_run(run_suite(load_suite(path)).run_dir)
    assert len(run.responses) == 6 and len(run.scores) == 6
    values = run.scores.set_index("uid")["value"].to_dict()
    assert values["golden/0"] == 1.0 and values["other/0"] == 0.0


def test_building_the_schema_and_serving_a_cached_run_never_import_torch(tmp_path):
    path = write(tmp_path, {})
    run_suite(load_suite(path))  # fill the cache
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from harness.cli.main import cli\n"
        "for args in (['schema'], ['validate', sys.argv[1]], ['run', sys.argv[1]]):\n"
        "    result = CliRunner().invoke(cli, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'sentence_transformers')\n"
        "         if m in sys.modules]\n"
        "print('heavy:', heavy)\n")
    out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stdout


def test_kind_modules_import_only_the_standard_library_and_pydantic_at_top_level():
    """What makes the line above hold for every kind, including the ones still to come."""
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from harness.registry import ARMS, ENGINES, RETRIEVERS\n"
        "import harness.spec.corpus\n"
        "ENGINES.kinds(); ARMS.kinds(); RETRIEVERS.kinds()\n"
        "third = {m.split('.')[0] for m in set(sys.modules) - before} - set(\n"
        "    sys.stdlib_module_names)\n"
        "print(sorted(third))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    allowed = {"harness", "pydantic", "pydantic_core", "typing_extensions", "annotated_types",
               "typing_inspection", "_distutils_hack"}
    third = {m for m in eval(out.stdout) if not m.startswith("_sysconfigdata")}
    assert third <= allowed, out.stdout


PLUGIN = '''
from typing import Literal
from harness.engines import ENGINES
from harness.engines.base import EngineSpec, ResolvedEngine

@ENGINES.register("echo_plugin")
class EchoPluginSpec(EngineSpec):
    kind: Literal["echo_plugin"]

    def resolve(self, ctx):
        return ResolvedEngine(ctx.name, "echo_plugin", {"kind": "echo_plugin"}, "echo")

    def build(self, ctx, resolved):
        from harness.engines.scripted import ScriptedEngine, ScriptedEngineSpec
        return ScriptedEngine(ScriptedEngineSpec(kind="scripted"), resolved.identity)
'''


def install_plugin(site, name: str, group: str, value: str, code: str | None) -> None:
    """A distribution on sys.path with an entry point, as `pip install` would leave it."""
    if code is not None:
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(code)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {value}\n")


def test_an_installed_package_adds_an_engine_kind_through_its_entry_point(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, "echoplug", "harness.engines", "echoplug", PLUGIN)
    install_plugin(site, "brokenplug", "harness.engines", "brokenplug", "raise ImportError('x')")
    suite = write(tmp_path, {"engine": {"kind": "echo_plugin"}})
    (tmp_path / "other").mkdir()
    unknown = write(tmp_path / "other", {"engine": {"kind": "nope"}})
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    ok = subprocess.run([sys.executable, "-m", "harness", "run", suite], capture_output=True,
                        text=True, cwd=REPO, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "harness", "validate", unknown],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert bad.returncode == 2
    assert "echo_plugin" in bad.stderr  # the plugin's kind is listed among the known ones
    assert "entry point 'brokenplug' (brokenplug) failed to load: ImportError: x" in bad.stderr
