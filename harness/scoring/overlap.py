"""Reference-overlap scorers from the standard libraries: rouge_l (rouge-score) and bleu
(sacrebleu). Both objects are built once per scorer, not per example.

ROUGE-L without stemming is rouge-score's own computation done here (its tokenizer, its LCS,
its F-measure, in the same floating-point operations: equal values, tests/test_scoring.py
checks), because importing rouge-score imports the whole of nltk, then scipy.stats and
scikit-learn: 2-3 s at the end of every run that scores ROUGE-L. With `use_stemmer: true` the
scorer is rouge-score's, for nltk's Porter stemmer.
"""

from __future__ import annotations

import re
from typing import Any

from harness.scoring.extract import on_field
from harness.scoring.options import check_bool, check_field
from harness.scoring.registry import scorer
from harness.types import Example, Score

# sacrebleu's other tokenizers need extra packages or download models; we never download.
BLEU_TOKENIZERS = ("13a", "intl", "char", "zh", "none")


@scorer("rouge_l")
def rouge_l(field: str | None = None, use_stemmer: bool = False) -> Any:
    """ROUGE-L F-measure (longest common subsequence) from rouge-score."""
    check_field(field)
    check_bool("use_stemmer", use_stemmer)
    rouge: list[Any] = []  # built on first use: rouge-score imports nltk (2-3 s), which a
    # suite that only validates, or whose scores are all done, should not pay

    def compare(output: str, reference: str, example: Example) -> Score:
        if not use_stemmer:
            precision, recall, fmeasure = rouge_l_scores(reference, output)
            return Score(fmeasure, f"precision {precision:.2f}, recall {recall:.2f}")
        if not rouge:
            from rouge_score.rouge_scorer import RougeScorer

            rouge.append(RougeScorer(["rougeL"], use_stemmer=use_stemmer))
        result = rouge[0].score(target=reference, prediction=output)["rougeL"]
        return Score(
            result.fmeasure, f"precision {result.precision:.2f}, recall {result.recall:.2f}"
        )

    return on_field(compare, field, 0.0)


_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score.tokenize.tokenize(text, stemmer=None)."""
    tokens = _SPACES.split(_NON_ALPHANUM.sub(" ", text.lower()))
    return [t for t in tokens if _VALID_TOKEN.match(t)]


def rouge_l_scores(target: str, prediction: str) -> tuple[float, float, float]:
    """(precision, recall, F-measure) of ROUGE-L, as rouge_score's RougeScorer(["rougeL"])."""
    ref, can = rouge_tokens(target), rouge_tokens(prediction)
    if not ref or not can:
        return 0, 0, 0  # rouge-score's own zeros (ints)
    # The length of the longest common subsequence, one row of the DP table at a time.
    previous = [0] * (len(can) + 1)
    for token in ref:
        row = [0]
        for j, other in enumerate(can, start=1):
            row.append(previous[j - 1] + 1 if token == other else max(previous[j], row[j - 1]))
        previous = row
    lcs = previous[-1]
    precision = lcs / len(can)
    recall = lcs / len(ref)
    fmeasure = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, fmeasure


@scorer("bleu")
def bleu(field: str | None = None, tokenize: str = "13a", lowercase: bool = False) -> Any:
    """sacrebleu sentence BLEU divided by 100, so 0..1 like the other scorers."""
    check_field(field)
    check_bool("lowercase", lowercase)
    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(
            f"option 'tokenize' must be one of {', '.join(BLEU_TOKENIZERS)}, got {tokenize!r}"
        )
    from sacrebleu.metrics import BLEU

    # The same settings as sacrebleu.sentence_bleu (exp smoothing, effective order).
    metric = BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=True)

    def compare(output: str, reference: str, example: Example) -> Score:
        result = metric.sentence_score(output, [reference])
        return Score(result.score / 100.0, f"BLEU {result.score:.1f}/100")

    return on_field(compare, field, 0.0)
