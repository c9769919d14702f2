"""Markdown rendering of report contexts with jinja2: pure (template in, text out)."""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def cell(value: Any) -> str:
    """Safe inside a markdown table cell: no pipes, no line breaks."""
    s = "" if value is None else str(value)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def inline(value: Any) -> str:
    """Safe in running text: one line."""
    return " ".join(("" if value is None else str(value)).split())


def num(value: Any, digits: int = 3) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters.update(cell=cell, inline=inline, num=num)
    return env


_ENV = _environment()


def render(template: str, context: dict[str, Any]) -> str:
    text = _ENV.get_template(template).render(**context)
    # Collapse runs of blank lines the template's conditionals leave behind.
    lines, blank = [], 0
    for line in text.splitlines():
        blank = blank + 1 if not line.strip() else 0
        if blank <= 1:
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"
