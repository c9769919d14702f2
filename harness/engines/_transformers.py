"""An engine that runs the model in this process with transformers (and LoRA adapters with peft).

It needs no server, which makes it the engine for tests, CI and small runs. Prompts are
rendered with the tokenizer's chat template and tokenised without extra special tokens, as
vLLM's chat endpoint does, so both engines see the same token ids.

Decoding (harness/engines/_decode.py, the engine's own loop): requests are grouped by adapter
and generation parameters (harness/engines/_batching.py); at most `batch_size` rows are in
flight. The prompt prefix the rows admitted together share (system prompt, few-shot turns) is
computed once, and a row that finishes (eos, stop string, max_tokens, a grammar that ended)
leaves the batch. `model.generate` is the reference: the loop is checked against it.
- Greedy (temperature 0): one stream per group; a finished row's place goes to a waiting row.
  Greedy output does not depend on the batch in exact arithmetic, and in fp32 it does not:
  every one of the demo's 220 answers (prompt and tuned arms) is identical to
  `model.generate`'s, as are the answers in tests/test_local_decoding.py. In bf16 another batch
  shape rounds differently and near-tied tokens flip (batched against one at a time, 15 of 24
  answers of 64 tokens diverged somewhere): bf16 greedy output is reproducible for the same
  requests, but depends on which requests share a batch; use dtype float32 where that matters.
- Sampled (temperature > 0): the batches `model.generate` used to see (length-bucketed, cut at
  `batch_size`), each seeded from `params.seed`; the loop draws the random numbers generate
  draws, so the samples are generate's. A run is reproducible, but a request's sample depends
  on which requests share its batch.
- Constrained (`Request.response_format`, JSON Schema or regex): xgrammar, one compiled
  grammar per format (harness/engines/_grammar.py), a matcher per row; constrained and free
  rows share batches. A format that does not compile is an arm error for its requests.
- `latency_s` is the wall time of each forward pass shared equally among the rows in it,
  summed over the passes a request took part in (loading an adapter is not counted: it is a
  one-off serving cost).
Models with other than full-attention layers (sliding windows...) and prompt-learning adapters
keep the old path, one left-padded `model.generate` call per batch, without constraints.

Adapters are served on the one loaded base: the first wraps it in a PeftModel, later ones are
added with `load_adapter`, and base requests run inside `disable_adapter()`. At most
`max_loaded_adapters` stay loaded; the least recently used is deleted beyond that.
On a CPU (or with `merge_adapters: true`) an adapter's rows decode with its LoRA weights merged
into the base, which gets its own weights back, bit for bit, before anything else runs
(harness/engines/_lora_merge.py): about a fifth faster than base + adapter per step, and it
rounds differently, so the engine's identity says so (`"adapters": "merged"`).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from harness.devices import default_device, resolve_dtype_name
from harness.engines._batching import Batch, Group, adapter_key, plan_groups
from harness.engines._decode import DecodeOptions, Decoder, Row, Sampling, supports_own_decoder
from harness.engines._grammar import GrammarError, Grammars
from harness.engines._local_identity import local_identity, resolve_merge, resolve_shared_prefix
from harness.engines._lora_merge import merged_adapter
from harness.engines._shared_prefix import install
from harness.engines.base import Engine, ProgressCallback
from harness.errors import ConfigError, EngineError, ModelError
from harness.models import ResolvedModel
from harness.types import AdapterRef, GenerationParams, Request, Response, ResponseFormat

_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}


def resolve_dtype(name: str, device: str) -> torch.dtype:
    return _DTYPES[resolve_dtype_name(name, device)]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def serving_name(adapter: AdapterRef) -> str:
    # Named by content, never by folder: new weights under an old folder get a new name.
    return f"lora_{adapter.content_hash[:16]}"


def check_adapter_folder(adapter: AdapterRef) -> None:
    folder = Path(adapter.path)
    if not folder.is_dir():
        raise ModelError(f"adapter {adapter.name!r}: folder {folder} does not exist")
    if not (folder / "adapter_config.json").is_file():
        raise ModelError(f"adapter {adapter.name!r}: {folder} has no adapter_config.json")


class LocalEngine(Engine):
    kind = "local"

    def __init__(
        self,
        model: ResolvedModel,
        dtype: str = "auto",
        batch_size: int = 8,
        threads: int | None = None,
        max_loaded_adapters: int = 4,
        merge_adapters: bool | None = None,
    ):
        if batch_size < 1:
            raise ConfigError(f"engine batch_size must be at least 1, got {batch_size}")
        if max_loaded_adapters < 1:
            raise ConfigError(
                f"engine max_loaded_adapters must be at least 1, got {max_loaded_adapters}"
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run shows its own rich progress

        if threads is not None:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        self._resolved = model
        self._device = default_device()
        self._dtype = resolve_dtype(dtype, self._device)
        self._batch_size = batch_size
        self._max_adapters = max_loaded_adapters
        # Merged LoRA weights decode faster; the copy of the base weights they need is kept on
        # the device, so by default only on a CPU (harness/engines/_lora_merge.py).
        self._merge = resolve_merge(merge_adapters, self._device)
        # In the identity whenever the device would use it, as the spec predicts it (a model
        # the own decode loop cannot run keeps the key and never attends this way).
        self._shared_attention = resolve_shared_prefix(self._device)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model.path)
            base = AutoModelForCausalLM.from_pretrained(model.path, dtype=self._dtype)
        except (OSError, ValueError) as exc:
            raise ModelError(f"model {model.path} could not be loaded: {exc}") from exc
        if not self._tokenizer.chat_template:
            raise ModelError(f"model {model.path} has no chat template in its tokenizer")
        self._base = base.to(self._device).eval()
        self._model: Any = self._base  # becomes a PeftModel once the first adapter is loaded
        self._loaded: OrderedDict[str, None] = OrderedDict()  # serving names, oldest first
        self._eos_ids = self._stop_token_ids()
        pad = self._tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self._eos_ids[0]
        self._decoder: Decoder | None = None
        if supports_own_decoder(self._base.config):
            shared = self._shared_attention and install(self._base)
            self._decoder = Decoder(
                self._base, eos_ids=self._eos_ids, pad_id=self._pad_id, device=self._device,
                batch_size=batch_size, first_stop=first_stop,
                decode_text=lambda t: self._tokenizer.decode(t, skip_special_tokens=True),
                # Parts by length were measured on a CPU, where a pass costs ~64 tokens' work;
                # on a GPU a pass costs far more tokens, so one padded pass stays.
                options=DecodeOptions(shared_attention=shared,
                                      split_by_length=self._device == "cpu"))
        self._grammars: Grammars | None = None  # built on the first constrained request
        self._closed = False

    def _stop_token_ids(self) -> list[int]:
        # The tokenizer's eos plus any extra eos the model's generation config names (as vLLM).
        ids = [self._tokenizer.eos_token_id]
        extra = self._base.generation_config.eos_token_id
        ids += extra if isinstance(extra, list) else [extra]
        return list(dict.fromkeys(i for i in ids if i is not None))

    # ---- Engine interface ----------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        return local_identity(self._resolved.identity, dtype_name(self._dtype),
                              merge=self._merge, shared_attention=self._shared_attention)

    def generate(
        self, requests: Sequence[Request], progress: ProgressCallback | None = None
    ) -> list[Response]:
        if self._closed:
            raise EngineError("the local engine was closed; create a new one")
        for request in requests:  # fail before generating anything, not half-way
            if request.adapter is not None:
                check_adapter_folder(request.adapter)
        prompts = [self.encode(request.messages) for request in requests]
        results: list[Response | None] = [None] * len(requests)
        fitting = []
        for i, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
            problem = (self._does_not_fit(len(prompt), request.params.max_tokens)
                       or self._constraint_problem(request.response_format))
            if problem is None:
                fitting.append(i)
                continue
            # Like an HTTP engine's refused request: an arm error for this example only.
            results[i] = Response(text="", prompt_tokens=len(prompt), finish_reason="error",
                                  error=problem)
            if progress is not None:
                progress(i, results[i])

        def done(j: int, response: Response) -> None:
            results[fitting[j]] = response
            if progress is not None:
                progress(fitting[j], response)

        sub = [requests[i] for i in fitting]
        rows = [prompts[i] for i in fitting]
        try:
            previous: object = object()
            for group in plan_groups(sub, [len(r) for r in rows]):
                if self._decoder is not None and adapter_key(group.adapter) != previous:
                    self._decoder.prefixes.clear()  # another adapter: other keys and values
                    previous = adapter_key(group.adapter)
                self._run_group(group, sub, rows, done)
        finally:
            if self._decoder is not None:
                self._decoder.prefixes.clear()
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._model = self._base = self._decoder = None
        gc.collect()
        if self._device == "cuda":
            torch.cuda.empty_cache()

    # ---- prompts -----------------------------------------------------------------------------

    def encode(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of the chat-templated prompt, as vLLM's chat endpoint would tokenise it."""
        text = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=False
        )
        # The template already holds every special token: adding a BOS would double it.
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def _does_not_fit(self, prompt_tokens: int, max_tokens: int) -> str | None:
        limit = getattr(self._base.config, "max_position_embeddings", None)
        if limit is not None and prompt_tokens + max_tokens > limit:
            return (f"prompt of {prompt_tokens} tokens + max_tokens {max_tokens} exceeds the "
                    f"model's context of {limit} tokens")
        return None

    def _constraint_problem(self, fmt: ResponseFormat | None) -> str | None:
        if fmt is None:
            return None
        if self._decoder is None:
            return ("constrained decoding on the local engine needs a model whose layers are "
                    f"all full attention; {self._resolved.path} is not one")
        if self._grammars is None:
            vocab = self._base.get_output_embeddings().weight.shape[0]
            self._grammars = Grammars(self._tokenizer, vocab, self._eos_ids)
        try:
            self._grammars.compiled(fmt)
        except GrammarError as exc:
            return str(exc)
        return None

    # ---- one group (one adapter, one set of parameters) ----------------------------------------

    def _run_group(self, group: Group, requests: Sequence[Request], prompts: list[list[int]],
                   done: Any) -> None:
        # Loading an adapter is a one-off serving cost, not the requests' latency: do it first.
        adapter_context = self._adapter_active(group.adapter)
        if self._decoder is None or self._prompt_learning(group.adapter):
            with adapter_context:  # once for the group: a merge is not redone every batch
                for start in range(0, len(group.indices), self._batch_size):
                    chunk = group.indices[start : start + self._batch_size]
                    batch = Batch(indices=chunk, adapter=group.adapter, params=group.params)
                    for j, response in self._generate_batch(batch, requests, prompts):
                        done(j, response)
            return
        params = group.params
        rows = [Row(index=j, prompt=prompts[j], max_tokens=params.max_tokens, stops=params.stop,
                    matcher=self._matcher(requests[j].response_format))
                for j in group.indices]
        sampling = Sampling(temperature=params.temperature, top_p=params.top_p)
        if sampling.temperature <= 0 and self._decoder.options.refill:
            # Rows that share a prefix sit together, so rows admitted together share one.
            rows.sort(key=lambda r: r.prompt)

        def finished(row: Row) -> None:
            done(row.index, self._response(row.tokens, len(row.prompt), row.seconds, params))

        # A model error becomes an EngineError in the loop; what `done` raises (the progress
        # callback: a spending limit) goes through as it is.
        with adapter_context, torch.inference_mode():
            self._decoder.run(rows, sampling, finished,
                              rng=lambda: _seeded(params.seed, self._device))

    def _matcher(self, fmt: ResponseFormat | None) -> Any:
        if fmt is None:
            return None
        assert self._grammars is not None  # compiled when the request was checked
        return self._grammars.matcher(fmt)

    def _prompt_learning(self, adapter: AdapterRef | None) -> bool:
        # Prompt-learning adapters (virtual tokens) need PeftModel.generate; LoRA does not.
        if adapter is None or self._model is self._base:
            return False
        config = self._model.peft_config.get(serving_name(adapter))
        return bool(getattr(config, "is_prompt_learning", False))

    def _generate_batch(self, batch: Batch, requests: Sequence[Request],
                        prompts: list[list[int]]) -> list[tuple[int, Response]]:
        """The model.generate path, for models the own decode loop does not support."""
        out: list[tuple[int, Response]] = []
        plain = [j for j in batch.indices if requests[j].response_format is None]
        for j in batch.indices:
            if requests[j].response_format is not None:
                out.append((j, Response(text="", prompt_tokens=len(prompts[j]),
                                        finish_reason="error",
                                        error="constrained decoding needs the own decode loop, "
                                              "which this adapter (prompt learning) cannot use")))
        if plain:
            sub = Batch(indices=tuple(plain), adapter=batch.adapter, params=batch.params)
            out += zip(plain, self._run_batch(sub, [prompts[j] for j in plain]), strict=True)
        return out

    # ---- one batch with model.generate -------------------------------------------------------

    def _run_batch(self, batch: Batch, rows: list[list[int]]) -> list[Response]:
        width = max(len(r) for r in rows)
        # Left padding: every prompt ends at the same column, where generation starts.
        input_ids = torch.tensor([[self._pad_id] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        started = time.perf_counter()  # the caller made the batch's adapter active
        try:
            with torch.inference_mode(), self._rng(batch):
                output = self._model.generate(
                    input_ids=input_ids.to(self._device),
                    attention_mask=mask.to(self._device),
                    **self._generation_kwargs(batch.params),
                )
        except RuntimeError as exc:
            raise EngineError(f"local generation failed: {exc}") from exc
        share = (time.perf_counter() - started) / len(rows)
        completions = output[:, width:].tolist()
        return [
            self._response(tokens, len(prompt), share, batch.params)
            for tokens, prompt in zip(completions, rows, strict=True)
        ]

    def _generation_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "eos_token_id": self._eos_ids,
            "pad_token_id": self._pad_id,
            "repetition_penalty": 1.0,  # outputs depend on the request only, not model defaults
        }
        if params.temperature > 0:
            # top_k 0 disables transformers' default top-k of 50 (vLLM applies none).
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p,
                          top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self._tokenizer)
        return kwargs

    def _rng(self, batch: Batch) -> AbstractContextManager[Any]:
        if batch.params.temperature <= 0:
            return nullcontext()
        return _seeded(batch.params.seed, self._device)

    def _response(
        self, tokens: list[int], prompt_tokens: int, latency: float, params: GenerationParams
    ) -> Response:
        count, hit_eos = self._generated_length(tokens)
        text = self._tokenizer.decode(tokens[:count], skip_special_tokens=True)
        cut = first_stop(text, params.stop)
        if cut is not None:
            # Generation halted on the token that completed the stop string; anything after it
            # in this row is padding (which equals eos for many models), so recount up to it.
            count = self._tokens_until_stop(tokens[:count], params.stop)
            text = text[:cut]
        finished = hit_eos or cut is not None
        return Response(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=count,
            latency_s=latency,
            finish_reason="stop" if finished else "length",
        )

    def _generated_length(self, tokens: list[int]) -> tuple[int, bool]:
        """Tokens this row really generated (its eos included), and whether it ended on eos."""
        for position, token in enumerate(tokens):
            if token in self._eos_ids:
                return position + 1, True
            if token == self._pad_id:  # pad differs from eos: the row stopped on a stop string
                return position, False
        return len(tokens), False

    def _tokens_until_stop(self, tokens: list[int], stops: Sequence[str]) -> int:
        for count in range(1, len(tokens) + 1):
            text = self._tokenizer.decode(tokens[:count], skip_special_tokens=True)
            if first_stop(text, stops) is not None:
                return count
        return len(tokens)

    # ---- adapters ----------------------------------------------------------------------------

    def _adapter_active(self, adapter: AdapterRef | None) -> AbstractContextManager[Any]:
        if adapter is None:
            if self._model is self._base:
                return nullcontext()
            return self._model.disable_adapter()
        name = self._ensure_loaded(adapter)  # may replace self._model with a PeftModel
        self._model.set_adapter(name)
        if self._merge:
            return merged_adapter(self._model, name)
        return nullcontext()

    def _ensure_loaded(self, adapter: AdapterRef) -> str:
        name = serving_name(adapter)
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return name
        check_adapter_folder(adapter)
        try:
            self._load_adapter(adapter.path, name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(
                f"adapter {adapter.name!r} at {adapter.path} could not be loaded: {first_line}"
            ) from exc
        self._loaded[name] = None
        # Evict after loading, so the adapter about to be used is never the one deleted.
        while len(self._loaded) > self._max_adapters:
            oldest, _ = self._loaded.popitem(last=False)
            self._model.delete_adapter(oldest)
        return name

    def _load_adapter(self, path: str, name: str) -> None:
        with warnings.catch_warnings():
            # peft calls a transformers API deprecated in v5: not the user's concern.
            warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
            if self._model is self._base:
                from peft import PeftModel

                self._model = PeftModel.from_pretrained(self._base, path, adapter_name=name)
                self._model.eval()
            else:
                self._model.load_adapter(path, adapter_name=name)

    @property
    def loaded_adapters(self) -> list[str]:
        """Serving names of the adapters now loaded, least recently used first."""
        return list(self._loaded)


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string starts in `text`, or None."""
    hits = [text.find(s) for s in stops if s]
    hits = [h for h in hits if h >= 0]
    return min(hits) if hits else None


@contextmanager
def _seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch's global RNG for one batch; the caller's RNG state is restored afterwards."""
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
