"""The `rag` arm kind: another arm's messages, with passages retrieved from a corpus.

Composition, as the tuned arm: a RAG arm takes the messages of a prompt arm (`prompt: NAME`,
or just the example's own turns) and renders the top-k chunks of the suite's corpus into them,
each with its document id, through templates the suite may override. Retrieval for a whole
golden set is one batched pass (`prepare`), each query's hits cached by query, index identity,
k, threshold and filter (harness/retrieval/service.py). The request carries the retrieved
contexts, so the run records them and scorers see them; its cache key is the messages as sent,
so a corpus edit regenerates only the examples whose rendered context changed.

A tuned arm whose `prompt` is a RAG arm is the tuned+RAG arm.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.arms import ARMS
from harness.arms.base import DEFAULT_ENGINE, Arm, ArmContext, ArmSpec, Roles
from harness.spec.retriever import FilterValue
from harness.types import Context, Example, GenerationParams, Message, Request, stable_hash

DEFAULT_USER_TEMPLATE = ("Answer from these passages of the knowledge base:\n{context}\n\n"
                         "Question: {question}")
DEFAULT_SYSTEM_TEMPLATE = "Passages of the knowledge base:\n{context}"
DEFAULT_CHUNK_TEMPLATE = "[{doc_id}] {text}"
NO_PASSAGES = "(no passages found)"

# The placeholders each template may use.
PLACEHOLDERS = {
    "query_template": {"question"},
    "chunk_template": {"doc_id", "text", "source", "score", "rank"},
    "context_template:user": {"context", "question"},
    "context_template:system": {"context"},
}


@ARMS.register("rag")
class RagArmSpec(ArmSpec):
    kind: Literal["rag"]
    corpus: str = Field(description="a corpus of the suite's `corpora:`")
    prompt: str | None = Field(None, description="the arm whose messages get the passages (a "
                               "prompt arm); default: the example's own turns")
    top_k: int | None = Field(None, ge=1, le=100, description="passages per example; default: "
                              "the corpus retriever's top_k")
    score_threshold: float | None = Field(None, description="drop passages scoring below this "
                                          "(cosine similarity); default: the retriever's")
    filter: dict[str, FilterValue] | None = Field(None, description="payload filter, added to "
                                                  "the retriever's")
    query_template: str = Field("{question}", description="the search query; {question} is "
                                "the example's last user turn")
    placement: Literal["user", "system"] = Field("user", description="where the passages go: "
                                                 "into the last user turn, or the system prompt")
    context_template: str | None = Field(None, description="how passages and question are "
                                         "rendered: {context} (and {question} in the user turn)")
    chunk_template: str = Field(DEFAULT_CHUNK_TEMPLATE, description="one passage: {doc_id}, "
                                "{text}, {source}, {score}, {rank}")
    separator: str = Field("\n\n", description="between passages")

    gives_context: ClassVar[bool] = True

    def arm_references(self) -> list[tuple[str, str]]:
        return [] if self.prompt is None else [("prompt", self.prompt)]

    def template(self) -> str:
        if self.context_template is not None:
            return self.context_template
        return DEFAULT_USER_TEMPLATE if self.placement == "user" else DEFAULT_SYSTEM_TEMPLATE

    def problems(self, suite: Any) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        corpora = getattr(suite, "corpora", {}) or {}
        if self.corpus not in corpora:
            known = ", ".join(sorted(corpora)) or "none (add a `corpora:` section)"
            out.append((("corpus",), f"'{self.corpus}' is not a corpus of this suite; "
                        f"expected one of: {known}"))
        else:
            from harness.retrieval.checks import corpus_problems

            out += corpus_problems(self.corpus, corpora[self.corpus], suite.base_dir)
        templates = {"query_template": (self.query_template, "query_template"),
                     "chunk_template": (self.chunk_template, "chunk_template"),
                     "context_template": (self.template(), f"context_template:{self.placement}")}
        for field, (text, allowed_key) in templates.items():
            problem = template_problem(text, PLACEHOLDERS[allowed_key],
                                       required="context" if field == "context_template"
                                       else None)
            if problem:
                out.append(((field,), problem))
        return out

    def build(self, ctx: ArmContext) -> Arm:
        from harness.arms.prompt import PromptArm

        inner = (ctx.arm(self.prompt) if self.prompt is not None
                 else PromptArm(f"{self.name}:turns", ctx.params(self)))
        if self.generation is not None and hasattr(inner, "with_params"):
            inner = inner.with_params(self.generation.params())
        search = ctx.corpus_search()
        corpus = search.spec(self.corpus)
        return RagArm(self.name, inner, search, self.corpus,
                      k=self.top_k or corpus.retriever.top_k,
                      score_threshold=self.score_threshold, filter=self.filter,
                      query_template=self.query_template, placement=self.placement,
                      context_template=self.template(), chunk_template=self.chunk_template,
                      separator=self.separator, engine=self.engine or DEFAULT_ENGINE)


def template_problem(text: str, allowed: set[str], required: str | None = None) -> str | None:
    """Why a str.format template would fail with these placeholders (None when it is fine)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        return f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    unknown = sorted(n for n in names if n.split(".")[0].split("[")[0] not in allowed)
    if "" in names or unknown:
        shown = ", ".join("{" + n + "}" for n in unknown) or "{} (positional)"
        return (f"unknown placeholder {shown}; expected "
                + ", ".join("{" + a + "}" for a in sorted(allowed)))
    if required and required not in names:
        return f"the template must contain {{{required}}}"
    return None


class RagArm(Arm):
    kind = "rag"

    def __init__(self, name: str, inner: Arm, search: Any, corpus: str, *, k: int,
                 score_threshold: float | None = None,
                 filter: dict[str, Any] | None = None, query_template: str = "{question}",
                 placement: str = "user", context_template: str = DEFAULT_USER_TEMPLATE,
                 chunk_template: str = DEFAULT_CHUNK_TEMPLATE, separator: str = "\n\n",
                 engine: str = DEFAULT_ENGINE):
        super().__init__(name, inner.params, engine)
        self.inner = inner
        self.search = search  # harness.retrieval.service.CorpusSearch
        self.corpus = corpus
        self.k = k
        self.score_threshold = score_threshold
        self.filter = filter
        self.query_template = query_template
        self.placement = placement
        self.context_template = context_template
        self.chunk_template = chunk_template
        self.separator = separator
        self._contexts: dict[tuple[str, str], tuple[Context, ...]] = {}

    # ---- retrieval -------------------------------------------------------------------------

    def query(self, example: Example) -> str:
        return self.query_template.format(question=example.user_text)

    def prepare(self, examples: Sequence[Example]) -> None:
        """Retrieve for every example not retrieved yet, in one batched search."""
        todo = [e for e in examples if _key(e) not in self._contexts]
        if not todo:
            return
        hits = self.search.search(self.corpus, [self.query(e) for e in todo], k=self.k,
                                  score_threshold=self.score_threshold, filter=self.filter)
        for example, found in zip(todo, hits, strict=True):
            self._contexts[_key(example)] = tuple(
                Context(doc_id=h.doc_id, text=h.text, score=round(h.score, 6),
                        chunk_id=h.chunk_id, source=h.source) for h in found)

    def contexts(self, example: Example) -> tuple[Context, ...]:
        if _key(example) not in self._contexts:
            self.prepare([example])
        return self._contexts[_key(example)]

    # ---- messages --------------------------------------------------------------------------

    def render_context(self, contexts: Sequence[Context]) -> str:
        if not contexts:
            return NO_PASSAGES
        return self.separator.join(
            self.chunk_template.format(doc_id=c.doc_id, text=c.text.strip(), source=c.source,
                                       score=f"{c.score:.3f}", rank=rank)
            for rank, c in enumerate(contexts, start=1))

    def messages(self, example: Example) -> list[Message]:
        return self._with_context(self.inner.messages(example), example)

    def _with_context(self, messages: list[Message], example: Example) -> list[Message]:
        context = self.render_context(self.contexts(example))
        out = [dict(m) for m in messages]
        if self.placement == "system":
            block = self.context_template.format(context=context)
            if out and out[0]["role"] == "system":
                out[0]["content"] = f"{out[0]['content']}\n\n{block}"
            else:
                out.insert(0, {"role": "system", "content": block})
            return out
        last_user = max(i for i, m in enumerate(out) if m["role"] == "user")
        out[last_user]["content"] = self.context_template.format(
            context=context, question=out[last_user]["content"])
        return out

    def build(self, example: Example) -> Request:
        request = self.inner.build(example)
        return replace(request, messages=tuple(self._with_context(list(request.messages),
                                                                  example)),
                       contexts=self.contexts(example))

    def with_params(self, params: GenerationParams) -> RagArm:
        inner = self.inner.with_params(params) if hasattr(self.inner, "with_params") \
            else self.inner
        clone = RagArm(self.name, inner, self.search, self.corpus, k=self.k,
                       score_threshold=self.score_threshold, filter=self.filter,
                       query_template=self.query_template, placement=self.placement,
                       context_template=self.context_template,
                       chunk_template=self.chunk_template, separator=self.separator,
                       engine=self.engine)
        clone._contexts = self._contexts  # same retrieval, shared
        return clone

    @property
    def roles(self) -> Roles:
        return Roles(has_adapter=False, has_retrieval=True,
                     constrained=self.inner.roles.constrained)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "retrieval": {**self.search.describe(self.corpus), "k": self.k,
                          "score_threshold": self.score_threshold, "filter": self.filter},
            "templates": stable_hash([self.query_template, self.placement,
                                      self.context_template, self.chunk_template,
                                      self.separator])[:16],
            "prompt": {"kind": self.inner.kind, **self.inner.describe()},
        }


def _key(example: Example) -> tuple[str, str]:
    return (example.golden_set, example.id)
