"""Reference-overlap scorers from the standard libraries: rouge_l (rouge-score) and bleu
(sacrebleu). Both objects are built once per scorer, not per example."""

from __future__ import annotations

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
    rouge: list[Any] = []  # built on first use: rouge-score imports nltk (~1 s), which a
    # suite that only validates, or whose scores are all done, should not pay

    def compare(output: str, reference: str, example: Example) -> Score:
        if not rouge:
            from rouge_score.rouge_scorer import RougeScorer

            rouge.append(RougeScorer(["rougeL"], use_stemmer=use_stemmer))
        result = rouge[0].score(target=reference, prediction=output)["rougeL"]
        return Score(
            result.fmeasure, f"precision {result.precision:.2f}, recall {result.recall:.2f}"
        )

    return on_field(compare, field, 0.0)


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
