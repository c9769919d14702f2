"""What a judge is shown of an example and an answer: the same text for every arm.

The question is the example's conversation without any system prompt (arms differ in theirs,
and a pairwise judge must see one question for both answers); retrieved passages are shown
only to rubric judges whose template asks for {context}.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.scoring.extract import field_text
from harness.types import Context, Example


def question_text(example: Example) -> str:
    turns = [m for m in example.messages if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in turns)


def judged_text(text: str, field: str | None) -> str:
    """`field` of a JSON answer, else the whole answer (the judge decides what it is worth)."""
    if field is None:
        return text
    value = field_text(text, field)
    return text if value is None else value


def context_text(contexts: Sequence[Context]) -> str:
    if not contexts:
        return "(no passage was retrieved)"
    return "\n\n".join(f"[{i}] ({c.doc_id}) {c.text}" for i, c in enumerate(contexts, 1))
