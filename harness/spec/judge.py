"""The config side of every judge kind: a model that scores an answer (rubric) or says which of
two answers is better (pairwise), on one of the suite's engines.

Kind modules (harness/judges/*.py) subclass `JudgeSpec` and register it with
`@JUDGES.register("kind")`; the suite's `judges:` section is typed by that registry. Like the
other spec modules, this one imports only the standard library, pydantic and harness.spec: what a
judge does lives in harness/judges, imported by `build()`.

The checks that need the whole suite (engines, arms, gates) are here too: `judge_problems`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from harness.spec.arm import DEFAULT_ENGINE
from harness.spec.base import NAME_PATTERN, Strict
from harness.spec.gates import GateSpec, gate_for_rung, names_of

Loc = tuple[Any, ...]

# A placeholder is `{name}` exactly; other braces (the JSON a template asks for) are text.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class JudgeContext:
    """What a judge config needs from the suite to check and build itself."""

    name: str  # the judge's name in the suite (also its scorer name)
    base_dir: Path  # the suite's folder: template and calibration files resolve against it
    pairs: tuple[tuple[str, str], ...] = ()  # pairwise: the (arm, baseline) pairs it judges


class JudgeSpec(Strict):
    """Fields every judge kind has. A kind adds its own and implements build()."""

    kind: str
    engine: str = Field(DEFAULT_ENGINE, description="the engine the judge runs on: 'default' "
                        "(the suite's `engine`) or a name of `engines:`")
    system: str | None = Field(None, description="the judge's system prompt (default: the "
                               "kind's)")
    template: str | None = Field(None, description="the judge's prompt with {placeholders} "
                                 "(default: the kind's)")
    template_file: str | None = Field(None, description="the template in a file, relative to "
                                      "the suite")
    field: str | None = Field(None, description="show the judge this key of a JSON answer "
                              "(the whole output when it has no such key)")
    reference_guided: bool = Field(False, description="show the judge the golden reference "
                                   "answer (the template needs {reference})")
    max_tokens: int = Field(128, ge=1, le=8192, description="the judge's answer length")
    temperature: float = Field(0.0, ge=0.0, description="0 is greedy")
    seed: int = 0
    golden_sets: list[str] | None = Field(None, description="judge only these golden sets "
                                          "(default: all)")
    constrained: bool = Field(False, description="constrain the judge's output to its JSON "
                              "verdict (engines with json_schema constrained decoding)")

    # What the kind is, for the checks and the decision.
    pairwise: ClassVar[bool] = False  # outcomes per pair of arms instead of values per arm
    placeholders: ClassVar[frozenset[str]] = frozenset()  # what a template may name

    def engine_names(self) -> list[str]:
        return [self.engine]

    def default_template(self) -> str:
        raise NotImplementedError

    def default_system(self) -> str:
        raise NotImplementedError

    def template_path(self, base_dir: Path) -> Path | None:
        if self.template_file is None:
            return None
        path = Path(self.template_file).expanduser()
        return path if path.is_absolute() else base_dir / path

    def template_text(self, base_dir: Path) -> str:
        """The template the judge renders: given inline, read from its file, or the kind's."""
        if self.template is not None:
            return self.template
        path = self.template_path(base_dir)
        if path is not None:
            return path.read_text(encoding="utf-8")
        return self.default_template()

    def system_text(self) -> str:
        return self.default_system() if self.system is None else self.system

    def required_placeholders(self) -> set[str]:
        return set()

    def template_problems(self, template: str) -> list[tuple[Loc, str]]:
        """Placeholders the template lacks or names wrongly (each kind adds its own rules)."""
        where = ("template",) if self.template is not None else ("template_file",)
        problems: list[tuple[Loc, str]] = []
        used = set(PLACEHOLDER.findall(template))
        for name in sorted(used - self.placeholders):
            problems.append((where, f"the template names {{{name}}}, which a {self.kind} judge "
                             f"does not fill; known: {_braced(self.placeholders)}"))
        missing = self.required_placeholders() - used
        if missing:
            problems.append((where, f"the template lacks {_braced(missing)}: a {self.kind} judge "
                             f"needs {_braced(self.required_placeholders())}"))
        if "reference" in used and not self.reference_guided:
            problems.append((where, "the template shows {reference} but reference_guided is "
                             "false: set `reference_guided: true`"))
        return problems

    def problems(self, ctx: JudgeContext) -> list[tuple[Loc, str]]:
        """Checks of the judge alone (template, files), as (location in the judge, message)."""
        if self.template is not None and self.template_file is not None:
            return [(("template_file",), "give `template` or `template_file`, not both")]
        path = self.template_path(ctx.base_dir)
        if path is not None and not path.is_file():
            return [(("template_file",), f"template file not found: {path}")]
        try:
            template = self.template_text(ctx.base_dir)
        except (OSError, UnicodeDecodeError) as exc:
            return [(("template_file",), f"cannot read {path}: {exc}")]
        return self.template_problems(template)

    def identity(self, base_dir: Path) -> dict[str, Any]:
        """Everything about the judge that can change its verdicts (engines are added by the
        runner): its config and the text of its template and system prompt."""
        text = self.template_text(base_dir) + "\x00" + self.system_text()
        return {"config": self.model_dump(mode="json", exclude={"golden_sets"}),
                "prompt": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}

    def build(self, ctx: JudgeContext) -> Any:
        """The judge (harness/judges), ready to be bound to the run's engines."""
        raise NotImplementedError


def _braced(names: set[str] | frozenset[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))


# ---- checks across the suite -------------------------------------------------------------------


def gate_pairs(gates: list[GateSpec], arm_names: list[str], ladder: list[str] | None,
               judge: str) -> list[tuple[str, str]]:
    """(arm, baseline) pairs that beats gates on `judge` compare (each rung of a ladder)."""
    pairs: list[tuple[str, str]] = []
    for gate in gates:
        if gate.type != "beats" or gate.scorer != judge:
            continue
        variants = [gate] if ladder is None else [
            g for rung in ladder if isinstance(g := gate_for_rung(gate, rung), GateSpec)]
        for g in variants:
            if g.arm is None:
                continue
            baselines = names_of(g.baseline) or [a for a in arm_names if a != g.arm]
            pairs += [(g.arm, b) for b in baselines if b != g.arm]
    return pairs


def judge_pairs(spec: Any, name: str, gates: list[GateSpec], arm_names: list[str],
                ladder: list[str] | None) -> tuple[tuple[str, str], ...]:
    """Every pair a pairwise judge judges: those its gates name, then those it lists; a pair
    listed in both orders is judged once (its outcome is read either way round)."""
    listed = [tuple(p) for p in getattr(spec, "pairs", None) or []]
    seen: set[frozenset[str]] = set()
    out = []
    for arm, baseline in [*gate_pairs(gates, arm_names, ladder, name), *listed]:
        key = frozenset((arm, baseline))
        if key not in seen and arm != baseline:
            seen.add(key)
            out.append((arm, baseline))
    return tuple(out)


def judge_problems(suite: Any, gives_context: Callable[[Any], bool]) -> list[tuple[Loc, str]]:
    """The `judges:` section against the rest of the suite: names, engines, arms, golden sets,
    pairs and the gates that use a judge. `gives_context(arm)`: does the arm retrieve."""
    problems: list[tuple[Loc, str]] = []
    engines = suite.engine_specs()
    arm_names = [a.name for a in suite.arms]
    scorer_names = [s.name for s in suite.scorer_specs]
    golden = suite.golden_set_names
    pairwise = {n for n, j in suite.judges.items() if j.pairwise}
    for name, spec in suite.judges.items():
        loc: Loc = ("judges", name)
        if not re.match(NAME_PATTERN, name):
            problems.append((loc, f"judge name '{name}' must be letters, digits, '_', '.', '-'"))
        if name in scorer_names:
            problems.append((loc, f"'{name}' is already a scorer's name; a judge is used under "
                             "its own name in gates, so give it another"))
        panel = spec.engine_names()
        for i, engine in enumerate(panel):
            where = loc + (("engine",) if len(panel) == 1 else ("engine", i))
            if engine not in engines:
                known = ", ".join(engines)
                problems.append((where, f"'{engine}' is not an engine of this suite; expected "
                                 f"one of: {known}"))
            elif panel.index(engine) != i:
                problems.append((where, f"engine '{engine}' is twice in the panel"))
            elif spec.constrained and "json_schema" not in engines[engine].output_constraints:
                problems.append((loc + ("constrained",), f"engine '{engine}' "
                                 f"({engines[engine].kind}) cannot constrain output to a JSON "
                                 "schema; set `constrained: false`"))
        for set_name in spec.golden_sets or []:
            if set_name not in golden:
                problems.append((loc + ("golden_sets",), f"'{set_name}' is not a golden set of "
                                 f"this suite; expected one of: {', '.join(golden)}"))
        for arm in getattr(spec, "arms", None) or []:
            if arm not in arm_names:
                problems.append((loc + ("arms",), f"'{arm}' is not an arm of this suite; "
                                 f"expected one of: {', '.join(arm_names)}"))
        for i, pair in enumerate(getattr(spec, "pairs", None) or []):
            for arm in pair:
                if arm not in arm_names:
                    problems.append((loc + ("pairs", i), f"'{arm}' is not an arm of this suite; "
                                     f"expected one of: {', '.join(arm_names)}"))
            if len(set(pair)) == 1:
                problems.append((loc + ("pairs", i), f"arm '{pair[0]}' cannot be compared "
                                 "with itself"))
        pairs = judge_pairs(spec, name, suite.gates, arm_names, suite.ladder)
        if spec.pairwise and not pairs:
            problems.append((loc, f"pairwise judge '{name}' has no pair of arms to judge: use it "
                             f"in a beats gate (`scorer: {name}`) or list `pairs: [[arm, "
                             "baseline]]`"))
        uses_context = getattr(spec, "uses_context", None)
        if uses_context is not None and uses_context(suite.base_dir):
            judged = [a for a in suite.arms if spec.arms is None or a.name in spec.arms]
            blind = [a.name for a in judged if not gives_context(a)]
            if blind:
                problems.append((loc, f"judge '{name}' shows retrieved {{context}}, which arm(s) "
                                 f"{', '.join(blind)} do not give; limit it with `arms: [...]`"))
        for where, message in spec.problems(JudgeContext(name, suite.base_dir, pairs)):
            problems.append((loc + tuple(where), message))
    for i, gate in enumerate(suite.gates):
        for field in ("scorers",):
            for used in names_of(getattr(gate, field)) or []:
                if used in pairwise:
                    problems.append((("gates", i, field), f"'{used}' is a pairwise judge: it "
                                     "prefers one arm's answer to another's and has no score per "
                                     f"arm; use it in a beats gate (`scorer: {used}`)"))
        if gate.scorer in pairwise and gate.type != "beats":
            problems.append((("gates", i, "scorer"), f"'{gate.scorer}' is a pairwise judge: "
                             f"only a beats gate can use it, not a {gate.type} gate"))
    if suite.primary_scorer in pairwise:
        problems.append((("primary_scorer",), f"'{suite.primary_scorer}' is a pairwise judge; "
                         "the primary scorer needs a score per arm (use the judge in a beats "
                         "gate)"))
    return problems
