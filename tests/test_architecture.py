"""Dependencies run one way: no import cycle between the packages and modules of harness.

Every import counts, including those inside functions and under TYPE_CHECKING: a cycle that
only shows at run time is still a cycle for a reader.
"""

from __future__ import annotations

import ast

from tests.conftest import REPO

ROOT = REPO / "harness"


def unit_of(module: str) -> str:
    """harness.engines.vllm -> engines; harness.runner -> runner."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        src = unit_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("harness.") and unit_of(target) != src:
                    graph.setdefault(src, set()).add(unit_of(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycle_between_the_parts_of_harness():
    assert cycles(import_graph()) == []


def test_decision_never_imports_presentation_or_the_cli():
    graph = import_graph()
    assert not graph.get("decision", set()) & {"report", "cli", "runner"}
    assert not graph.get("spec", set()) & {"engines", "arms", "runner", "decision", "report"}


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
