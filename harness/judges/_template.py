"""Judge prompts: the default templates of each kind and how a template is filled in.

Placeholders are `{name}` exactly; everything else in a template is text (the JSON it asks the
judge for included). Values are put in one pass, so an answer containing "{answer}" stays as it
is.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.spec.judge import PLACEHOLDER

RUBRIC_SYSTEM = ("You are a careful, impartial judge of answers. Judge only by the rubric, and "
                 "reply in the exact format asked for.")

RUBRIC_TEMPLATE = """Rate the answer below on a scale from {scale_min} (worst)
to {scale_max} (best).

Rubric: {rubric}

[Question]
{question}

[Answer to rate]
{answer}

Reply with one line of JSON and nothing else:
{"score": <a whole number from {scale_min} to {scale_max}>, "reason": "<one short sentence>"}"""

RUBRIC_TEMPLATE_WITH_REFERENCE = """Rate the answer below on a scale from {scale_min} (worst)
to {scale_max} (best).
The reference answer is correct: compare the answer with it.

Rubric: {rubric}

[Question]
{question}

[Reference answer]
{reference}

[Answer to rate]
{answer}

Reply with one line of JSON and nothing else:
{"score": <a whole number from {scale_min} to {scale_max}>, "reason": "<one short sentence>"}"""

PAIRWISE_SYSTEM = ("You are a careful, impartial judge comparing two answers to the same "
                   "question. The order in which the answers are shown and their length must "
                   "not influence you. Reply in the exact format asked for.")

PAIRWISE_TEMPLATE = """Which of the two answers below answers the question better?
{criteria}

[Question]
{question}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Reply with one line of JSON and nothing else:
{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}"""

PAIRWISE_TEMPLATE_WITH_REFERENCE = """Which of the two answers below answers the question better?
{criteria}
The reference answer is correct: prefer the answer that agrees with it.

[Question]
{question}

[Reference answer]
{reference}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Reply with one line of JSON and nothing else:
{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}"""


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every known `{name}`; an unknown one is left as written (the suite check refuses
    templates with unknown placeholders before anything runs)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
