"""Model judges, one module per kind, found by the registry (see harness/registry.py).

A judge is a model asked about answers, on one of the suite's engines: `rubric` scores each
arm's answer on a scale (a scorer like any other), `pairwise` says which of two arms' answers is
better, judging every pair in both orders (its outcomes are wins, ties and losses, like a
scorer's). A kind module defines its config (a `JudgeSpec` subclass registered with
`@JUDGES.register(kind)`) and imports only the standard library and pydantic at top level; the
judging itself lives in the "_" modules, imported by `build()`. docs/judges.md is the reference.
"""

from harness.registry import JUDGES

__all__ = ["JUDGES"]
