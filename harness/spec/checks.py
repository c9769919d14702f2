"""Checks of a suite that need more than one field: names that must exist, files, capabilities.

Everything `harness run` would refuse before generating is refused here, at load time, so
`harness validate` catches it: unknown arm or engine names, missing files and folders, an
adapter on an engine that cannot serve one, a scorer that needs what an arm cannot give.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError, ModelError
from harness.spec.arm import DEFAULT_ENGINE
from harness.spec.gates import check_gates, gate_for_rung
from harness.spec.judge import judge_problems

Loc = tuple[Any, ...]


def suite_problems(suite: Any, *, require_adapters: bool = True) -> list[tuple[Any, ...]]:
    """(location, message) or (location, message, error class) for each problem found."""
    problems: list[tuple[Any, ...]] = []
    problems += _golden_set_problems(suite)
    problems += _engine_problems(suite)
    problems += _arm_problems(suite, require_adapters)
    problems += _scorer_problems(suite)
    problems += judge_problems(suite, lambda arm: _gives_context(suite, arm))
    arm_names = [a.name for a in suite.arms]
    # A judge is named in gates like a scorer (a pairwise one in beats gates only).
    scorer_names = [s.name for s in suite.scorer_specs] + list(suite.judges)
    problems += check_gates(suite.gates, arm_names, scorer_names, suite.golden_set_names,
                            suite.ladder)
    problems += ladder_problems(suite.ladder, suite.gates, arm_names)
    return problems


def ladder_problems(ladder: list[str] | None, gates: list[Any],
                    arm_names: list[str]) -> list[tuple[Loc, str]]:
    """The `ladder:` list: at least two rungs, each an arm, none twice, and gates to judge them
    by, at least one of which (besides vs_baseline_run) applies to each rung."""
    if ladder is None:
        return []
    problems: list[tuple[Loc, str]] = []
    if len(ladder) < 2:
        problems.append((("ladder",), f"a ladder needs at least two rungs (arms, in the order "
                         f"they are tried); got {len(ladder)}"))
    for i, rung in enumerate(ladder):
        if rung not in arm_names:
            problems.append((("ladder", i), f"'{rung}' is not an arm of this suite; expected one "
                             f"of: {', '.join(arm_names)}"))
        elif ladder.index(rung) != i:
            problems.append((("ladder", i), f"duplicate rung '{rung}'"))
    if not gates:
        problems.append((("ladder",), "a ladder needs gates: each rung is judged by the suite's "
                         "gates (add a `gates` section)"))
    elif not problems:
        for i, rung in enumerate(ladder):
            if not any(g.type != "vs_baseline_run" and not isinstance(gate_for_rung(g, rung), str)
                       for g in gates):
                problems.append((("ladder", i), f"no gate applies to rung '{rung}': every gate "
                                 "compares with it; add one it must meet itself (e.g. a "
                                 "threshold gate)"))
    return problems


def _duplicates(names: list[str], loc: Any, what: str) -> list[tuple[Loc, str]]:
    return [(loc(i), f"duplicate {what} '{name}'") for i, name in enumerate(names)
            if names.index(name) != i]


def _golden_set_problems(suite: Any) -> list[tuple[Loc, str]]:
    problems = []
    for i, gs in enumerate(suite.golden_sets):
        if not suite.resolve(gs.path).is_file():
            problems.append((("golden_sets", i, "path"),
                             f"golden set file not found: {suite.resolve(gs.path)}"))
    problems += _duplicates(suite.golden_set_names, lambda i: ("golden_sets", i, "name"),
                            "golden set name")
    return problems


def _engine_loc(name: str) -> Loc:
    return ("engine",) if name == DEFAULT_ENGINE else ("engines", name)


def _engine_problems(suite: Any) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if DEFAULT_ENGINE in suite.engines:
        problems.append((("engines", DEFAULT_ENGINE), f"'{DEFAULT_ENGINE}' is the name of the "
                         "top-level `engine`; give this engine another name"))
    for name, spec in suite.engine_specs().items():
        for loc, message, *kind in spec.problems(suite.engine_context(name)):
            # "@model": the suite's top-level model, which engines naming none share.
            where = ("model", "base") if loc == ("@model",) else _engine_loc(name) + tuple(loc)
            if (where, message, *kind) not in problems:
                problems.append((where, message, *kind))
    return problems


def _arm_problems(suite: Any, require_adapters: bool) -> list[tuple[Any, ...]]:
    problems = _duplicates([a.name for a in suite.arms], lambda i: ("arms", i, "name"),
                           "arm name")
    by_name = {a.name: a for a in suite.arms}
    engines = suite.engine_specs()
    named = sorted(suite.engines)
    for i, arm in enumerate(suite.arms):
        engine_name = arm.engine or DEFAULT_ENGINE
        engine = engines.get(engine_name)
        if engine is None:
            expected = ", ".join(named) or "none (add an `engines:` section)"
            problems.append((("arms", i, "engine"), f"'{arm.engine}' is not an engine of this "
                             f"suite; expected one of: {expected}"))
        elif arm.uses_adapter and not engine.serves_adapters:
            problems.append((("arms", i, "engine"), f"arm '{arm.name}' serves an adapter, but "
                             f"engine '{engine_name}' ({engine.kind}) cannot serve adapters"))
        if engine is not None:
            problems += _constraint_problems(suite, i, arm, engine_name, engine)
        for field, ref in arm.arm_references():
            problem = _reference_problem(arm, by_name.get(ref), ref, suite)
            if problem:
                problems.append((("arms", i, field), problem))
        for loc, message, *kind in arm.problems(suite):
            if kind and kind[0] is ModelError and loc == ("adapter",) and not require_adapters:
                continue
            # "@corpora", ...: a problem of a suite section the arm uses, at its own place.
            where = ("corpora", *loc[1:]) if loc and loc[0] == "@corpora" else ("arms", i, *loc)
            if (where, message, *kind) not in problems:
                problems.append((where, message, *kind))
    return problems


def _constraint_problems(suite: Any, i: int, arm: Any, engine_name: str,
                         engine: Any) -> list[tuple[Loc, str]]:
    """The arm's requests ask for constrained decoding its engine cannot do."""
    kind = _output_constraint(suite, arm)
    if kind is None or kind in engine.output_constraints:
        return []
    supported = ", ".join(sorted(engine.output_constraints)) or "none"
    loc = ("response_format",) if arm.output_constraint() else ("engine",)
    return [(("arms", i, *loc), f"arm '{arm.name}' asks for {kind} constrained decoding, but "
             f"engine '{engine_name}' ({engine.kind}) cannot do it; it supports: {supported}")]


def _output_constraint(suite: Any, arm: Any, seen: frozenset[str] = frozenset()) -> str | None:
    """What the arm's requests are constrained by: its own, else that of an arm it wraps (a
    tuned arm sends its prompt arm's requests, response_format included)."""
    own = arm.output_constraint()
    if own is not None:
        return own
    for _, ref in arm.arm_references():
        target = next((a for a in suite.arms if a.name == ref), None)
        if target is not None and ref not in seen:
            found = _output_constraint(suite, target, seen | {arm.name})
            if found is not None:
                return found
    return None


def _reference_problem(arm: Any, target: Any, ref: str, suite: Any) -> str | None:
    """Why `arm` cannot build on the arm named `ref` (None when it can)."""
    if target is None or target is arm:
        others = [a.name for a in suite.arms if a is not arm and not a.uses_adapter]
        choices = ", ".join(others) or "none"
        if arm.uses_adapter:
            return f"'{ref}' is neither 'minimal' nor an arm of this suite ({choices})"
        return f"'{ref}' is not an arm of this suite ({choices})"
    if target.uses_adapter:
        if arm.gives_context:
            return (f"'{ref}' is a tuned arm; for tuned+RAG, give the tuned arm "
                    f"`prompt: {arm.name}` instead")
        return f"'{ref}' is itself a tuned arm; name the arm whose prompt the adapter should answer"
    if arm.gives_context and _gives_context(suite, target):
        return f"'{ref}' already retrieves: a RAG arm builds on an arm without retrieval"
    return None


def _scorer_problems(suite: Any) -> list[tuple[Loc, str]]:
    from harness.scoring import build_scorer

    specs = suite.scorer_specs
    problems = _duplicates([s.name for s in specs], lambda i: ("scorers", i), "scorer name")
    golden_names = suite.golden_set_names
    arm_names = [a.name for a in suite.arms]
    for i, spec in enumerate(specs):
        try:
            # Building (not just resolving) checks the options too; it loads no model.
            bound = build_scorer(spec.scorer_kind, spec.options, base_dir=suite.base_dir)
        except ConfigError as exc:
            problems.append((("scorers", i), exc.message))
            continue
        for name in spec.golden_sets or []:
            if name not in golden_names:
                problems.append((("scorers", i, "golden_sets"), f"'{name}' is not a golden set "
                                 f"of this suite; expected one of: {', '.join(golden_names)}"))
        for name in spec.arms or []:
            if name not in arm_names:
                problems.append((("scorers", i, "arms"), f"'{name}' is not an arm of this "
                                 f"suite; expected one of: {', '.join(arm_names)}"))
        if "context" in bound.info.needs:
            scored = [a for a in suite.arms if spec.arms is None or a.name in spec.arms]
            blind = [a.name for a in scored if not _gives_context(suite, a)]
            if blind:
                problems.append((("scorers", i), f"scorer '{spec.name}' needs retrieved "
                                 f"context, which arm(s) {', '.join(blind)} do not give; "
                                 "limit it with `arms: [...]`"))
    known = [s.name for s in specs] + [n for n, j in suite.judges.items() if not j.pairwise]
    if suite.primary_scorer and suite.primary_scorer not in known + list(suite.judges):
        problems.append((("primary_scorer",), f"'{suite.primary_scorer}' is not a scorer of "
                         f"this suite; expected one of: {', '.join(known)}"))
    return problems


def _gives_context(suite: Any, arm: Any, seen: frozenset[str] = frozenset()) -> bool:
    if arm.gives_context:
        return True
    for _, ref in arm.arm_references():
        target = next((a for a in suite.arms if a.name == ref), None)
        if target is not None and ref not in seen and _gives_context(suite, target,
                                                                     seen | {arm.name}):
            return True
    return False
