"""The scorer registry: lookup, option checking, and every way to plug in a custom scorer."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.scoring import build_scorer, list_scorers, resolve_scorer, scorer
from harness.types import Example, Score

BUILTINS = {
    "exact_match", "normalized_exact_match", "contains", "regex", "json_valid", "json_schema",
    "token_f1", "rouge_l", "bleu", "embedding_similarity", "label_accuracy",
}


def ex(reference: str = "Paris", id: str = "e1") -> Example:
    return Example(id, ({"role": "user", "content": "q"},), reference)


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# lookup and option errors


def test_list_scorers_includes_every_builtin_with_its_info():
    infos = {info.name: info for info in list_scorers()}
    assert set(infos) >= BUILTINS
    assert infos["label_accuracy"].binary and infos["label_accuracy"].required_options == ["labels"]
    assert infos["embedding_similarity"].batch
    assert all(info.higher_is_better and info.range == (0.0, 1.0) for info in infos.values()
               if info.name in BUILTINS)


def test_scorer_info_as_dict_is_json_ready():
    info = resolve_scorer("label_accuracy").info
    data = json.loads(json.dumps(info.as_dict()))
    assert data["range"] == [0.0, 1.0] and data["binary"] is True
    assert data["options"] == {"labels": None, "field": None, "case_sensitive": False}


def test_unknown_scorer_lists_the_known_ones_and_suggests_a_close_match():
    with pytest.raises(ConfigError) as caught:
        resolve_scorer("tokn_f1")
    message = caught.value.message
    assert message.startswith("unknown scorer 'tokn_f1'; known: ")
    assert "bleu, contains" in message and message.endswith("(did you mean 'token_f1'?)")


def test_unknown_option_names_the_option_and_the_accepted_ones():
    with pytest.raises(ConfigError) as caught:
        build_scorer("rouge_l", {"use_stemming": True})
    assert caught.value.message == (
        "scorer 'rouge_l' has no option 'use_stemming'; accepted: field, use_stemmer "
        "(did you mean 'use_stemmer'?)"
    )


def test_missing_required_option_is_named():
    with pytest.raises(ConfigError, match="scorer 'label_accuracy' needs option 'labels'"):
        build_scorer("label_accuracy", {})


def test_bad_option_value_becomes_a_config_error_naming_the_scorer():
    with pytest.raises(ConfigError, match="scorer 'rouge_l': option 'use_stemmer' must be true"):
        build_scorer("rouge_l", {"use_stemmer": "yes"})


def test_base_dir_is_injected_and_cannot_be_passed_as_an_option(tmp_path):
    with pytest.raises(ConfigError, match="has no option 'base_dir'"):
        build_scorer("json_schema", {"schema": {}, "base_dir": str(tmp_path)})


def test_malformed_reference_is_rejected_with_the_accepted_forms():
    with pytest.raises(ConfigError, match=r"package.module:function"):
        resolve_scorer("module:not-an-identifier")


# @scorer decorator


@scorer("test_registry_length_gap", range=(0.0, 100.0), higher_is_better=False,
        description="Absolute length difference in characters, capped at 100.")
def length_gap(cap: int = 100):
    def score(example: Example, output: str) -> Score:
        return Score(min(cap, abs(len(output) - len(example.reference))))

    return score


def test_decorated_scorer_is_built_by_name_with_its_declared_info():
    bound = build_scorer("test_registry_length_gap", {"cap": 3})
    assert bound.info.range == (0.0, 100.0) and not bound.info.higher_is_better
    assert bound.info.minimum == 100.0  # worst value when lower is better
    assert [s.value for s in bound.score_batch([ex(), ex()], ["Paris", "Parisian city"])] == [0, 3]
    assert "test_registry_length_gap" in {info.name for info in list_scorers()}


def test_decorator_returns_the_factory_so_it_can_be_called_directly():
    assert length_gap(cap=1)(ex(), "Par").value == 1


def test_registering_another_function_under_a_taken_name_is_refused():
    with pytest.raises(ConfigError, match="'exact_match' is already registered"):

        @scorer("exact_match")
        def impostor():
            return lambda example, output: 1.0


def test_batch_scorer_receives_lists_and_must_return_one_score_each():
    @scorer("test_registry_batch_len", batch=True)
    def batch_len(drop_last: bool = False):
        def score(examples, outputs):
            scores = [Score(float(len(o) > 3)) for o in outputs]
            return scores[:-1] if drop_last else scores

        return score

    bound = build_scorer("test_registry_batch_len", {})
    assert [s.value for s in bound.score_batch([ex(), ex()], ["ab", "abcd"])] == [0.0, 1.0]
    with pytest.raises(ConfigError, match="returned 1 scores for 2 outputs"):
        build_scorer("test_registry_batch_len", {"drop_last": True}).score_batch(
            [ex(), ex()], ["a", "b"]
        )


@pytest.mark.parametrize(
    ("result", "message"),
    [("1.5", r"returned 1.5, outside its range \[0, 1\]"), ("'yes'", "returned a str"),
     ("float('nan')", "returned nan")],
)
def test_values_outside_the_declared_range_are_refused(tmp_path, result, message):
    write(tmp_path / "bad.py", f"def bad(example, output):\n    return {result}\n")
    with pytest.raises(ConfigError, match=message):
        build_scorer("bad.py:bad", base_dir=tmp_path).score(ex(), "x")


def test_binary_scorer_returning_a_fraction_is_refused(tmp_path):
    write(tmp_path / "half.py", """
        from harness.scoring import scorer

        @scorer("test_registry_half", binary=True)
        def half():
            return lambda example, output: 0.5
    """)
    with pytest.raises(ConfigError, match=r"is binary but returned 0.5"):
        build_scorer("half.py:half", base_dir=tmp_path).score(ex(), "x")


# module:function, file path, entry point


@pytest.fixture
def importable(tmp_path, monkeypatch):
    """A folder on sys.path for modules written by a test; the modules are forgotten after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]
    importlib.invalidate_caches()


def test_plain_function_by_module_reference_is_wrapped_with_range_zero_one(importable):
    write(importable / "team_scorers.py", '''
        def starts_with_reference(example, output):
            """True when the answer comes first."""
            return output.startswith(example.reference)
    ''')
    bound = build_scorer("team_scorers:starts_with_reference")
    assert bound.info.name == "starts_with_reference" and bound.info.range == (0.0, 1.0)
    assert bound.info.description == "True when the answer comes first."
    assert [s.value for s in bound.score_batch([ex(), ex()], ["Paris.", "It is Paris"])] == [1, 0]


def test_plain_function_accepts_no_options(importable):
    write(importable / "team_plain.py", "def f(example, output):\n    return 1.0\n")
    with pytest.raises(ConfigError, match="has no option 'x'; accepted: none"):
        build_scorer("team_plain:f", {"x": 1})


def test_decorated_factory_by_module_reference_keeps_its_options(importable):
    write(importable / "team_decorated.py", """
        from harness.scoring import scorer

        @scorer("test_registry_prefix", binary=True)
        def prefix(n: int = 2):
            def score(example, output):
                return output[:n] == example.reference[:n]
            return score
    """)
    bound = build_scorer("team_decorated:prefix", {"n": 4})
    assert bound.info.name == "test_registry_prefix" and bound.info.binary
    assert bound.score(ex(), "Pari").value == 1.0 and bound.score(ex(), "Pa").value == 0.0


def test_module_reference_errors_name_what_is_missing(importable):
    write(importable / "team_empty.py", "X = 1\n")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_team_module'"):
        resolve_scorer("no_such_team_module:f")
    with pytest.raises(ConfigError, match="team_empty defines no 'f'"):
        resolve_scorer("team_empty:f")
    with pytest.raises(ConfigError, match="is a int, not a function"):
        resolve_scorer("team_empty:X")


def test_function_with_the_wrong_arity_is_refused(importable):
    write(importable / "team_arity.py", "def f(example, output, extra):\n    return 1.0\n")
    with pytest.raises(ConfigError, match=r"must take \(sample\) or \(example, output\)"):
        resolve_scorer("team_arity:f")


def test_file_reference_resolves_relative_to_base_dir(tmp_path):
    write(tmp_path / "suite" / "scorers" / "mine.py", """
        from harness.types import Score

        def shouting(example, output):
            return Score(float(output.isupper()), "all caps" if output.isupper() else "")
    """)
    bound = build_scorer("scorers/mine.py:shouting", base_dir=tmp_path / "suite")
    assert bound.score(ex(), "PARIS") == Score(1.0, "all caps")


def test_file_reference_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"file {tmp_path / 'nope.py'} does not exist")):
        resolve_scorer("nope.py:f", base_dir=tmp_path)
    write(tmp_path / "broken.py", "def f(:\n")
    with pytest.raises(ConfigError, match=r"running .*broken.py failed: SyntaxError"):
        resolve_scorer("broken.py:f", base_dir=tmp_path)


def test_a_scorer_file_is_executed_once_even_under_concurrent_resolution(tmp_path):
    log = tmp_path / "loads.txt"
    write(tmp_path / "counted.py", f"""
        from pathlib import Path
        with open({str(log)!r}, "a") as f:
            f.write("loaded\\n")

        def f(example, output):
            return 1.0
    """)
    threads = [
        threading.Thread(target=resolve_scorer, args=("counted.py:f", tmp_path)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.read_text().splitlines() == ["loaded"]


def test_entry_point_plugin_is_found_by_name_and_listed(importable):
    write(importable / "acme_scorers.py", """
        def polite(example, output):
            return "please" in output.lower()
    """)
    dist = importable / "acme_scorers-1.0.dist-info"
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: acme-scorers\nVersion: 1.0\n")
    write(dist / "entry_points.txt", "[harness.scorers]\nacme_polite = acme_scorers:polite\n")
    importlib.invalidate_caches()

    bound = build_scorer("acme_polite")
    assert bound.info.name == "acme_polite"
    assert bound.score(ex(), "Please, Paris").value == 1.0
    assert "acme_polite" in {info.name for info in list_scorers()}
