"""The local engine's own decode loop: greedy or sampled decoding over a batch of rows that
share a KV cache, with three things `model.generate` does not do.

- Prefix reuse: the prompts of the rows admitted together usually share a long token prefix
  (the system prompt and few-shot turns). Its keys and values are computed once, at batch 1,
  kept in a small cache (`PrefixCache`) and copied into every row; each row then computes
  only the rest of its prompt. Keys and values of a prefix depend only on its tokens
  (attention is causal), so a cached prefix also serves, sliced, a shorter one.
- Shared-prefix attention (on a CPU): a prefix that many rows of the batch start with is not
  copied into them; it is kept once, at batch 1, and every row attends to it besides its own
  columns (harness/engines/_shared_prefix.py). A decode step's attention reads each row's
  cache, so this saves most of what it reads when the prefix is most of the prompt. A batch
  may hold rows of several such prefixes, and rows of none.
- Rows admitted together are computed in parts of similar prompt length (greedy, on a CPU),
  each padded only to its own longest prompt (`by_length`).
- Finished rows (eos, stop string, max_tokens, a grammar that ended) stop being decoded and,
  for greedy decoding, waiting rows take their slots ("refill"): the batch stays full instead
  of stepping until its longest answer ends. A slot stays idle until a quarter of the batch
  is idle (a forward pass admits several rows at once; an idle row costs little in a step
  bound by reading the weights), and with no row waiting, idle rows are then dropped.
- Grammar-constrained rows (xgrammar): each has a `GrammarMatcher`; every step its token
  bitmask is applied to its logits before the token is chosen.

Layout: every row's tokens end at the same column of the cache (right-aligned); a row's
copied prefix (if any) sits at its left, then masked padding, then the rest of its prompt and
its answer.
Columns are not positions: position ids are explicit, so a row sees exactly the positions and
keys it would see alone, and its greedy tokens equal `model.generate`'s in float32
(tests/test_local_decoding.py checks it on real prompts).

Sampling follows `model.generate` exactly: the same warpers (temperature, top-p), softmax,
and `torch.multinomial`'s draw, which is argmax(p / q) with q ~ Exp(1) drawn for the whole
batch as planned, finished rows included. Drawing q for every planned row, alive or not,
keeps the random stream, hence the samples, those of `model.generate` for the same batch
(that is why sampled batches are never refilled).

The loop calls the transformers model itself; peft's LoRA layers live inside it, so the
adapter the engine made active (or disabled) applies, as under `PeftModel.generate`. Only
models whose every layer is full attention use this loop (a sliding window counts columns,
which here include padding); the engine falls back to `model.generate` otherwise.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer, get_layer_types_and_kwargs

from harness.engines._shared_prefix import MIN_TOKENS, SharedPrefix
from harness.errors import EngineError

Tokens = tuple[int, ...]
# Per layer: keys and values [rows, heads, columns, head dim].
LayerKV = list[tuple[torch.Tensor, torch.Tensor]]


def supports_own_decoder(config: Any) -> bool:
    """True for models whose every layer is plain full attention (no sliding window, no
    linear or shared layers): the only ones whose masks may have holes between columns."""
    try:
        layer_types, _ = get_layer_types_and_kwargs(config.get_text_config(decoder=True))
    except (AttributeError, TypeError, ValueError):
        return False
    if getattr(config, "is_encoder_decoder", False):
        return False
    return bool(layer_types) and all(t == "full_attention" for t in layer_types)


@dataclass(frozen=True)
class DecodeOptions:
    """Which speed-ups run (the bench turns them off one by one; outputs do not change)."""

    share_prefix: bool = True
    drop_finished: bool = True
    refill: bool = True  # greedy only: sampled batches keep the random stream of generate
    # Admit waiting rows once this share of the batch is idle (at least one row), and, with
    # none waiting, drop idle rows then: a pass to admit rows, or a copy of the cache without
    # idle ones, each cost about as much as many steps of an idle row (on a CPU a step is
    # bound by reading the weights, and a row more adds little to it).
    idle_share: float = 0.25
    # Rows keep only their own columns; a prefix they share is kept once and attended to at
    # batch 1 (harness/engines/_shared_prefix.py). Needs that attention installed in the model.
    shared_attention: bool = False
    # Greedy rows admitted together go in by length, in parts padded little (`by_length`).
    split_by_length: bool = True


@dataclass
class Row:
    """One request being decoded."""

    index: int  # the caller's index
    prompt: list[int]
    max_tokens: int
    stops: tuple[str, ...] = ()
    matcher: Any = None  # an xgrammar GrammarMatcher when the output is constrained
    tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0  # its share of the wall time of the steps it took part in
    slot: int = 0  # its place in the planned batch: which random draws are its own


@dataclass(eq=False)
class _Prefix:
    """A prefix a stream's rows attend to once: its tokens, its keys and values at batch 1."""

    tokens: Tokens
    layers: LayerKV


@dataclass(frozen=True)
class Sampling:
    temperature: float  # 0: greedy
    top_p: float = 1.0


# ---- cache ---------------------------------------------------------------------------------


class _SlotLayer(DynamicLayer):
    """One layer's keys and values for the rows of a batch, in a buffer with room on the right.

    The model sees columns [start, end). A decode step writes its column in place (instead of
    concatenating, which copies the whole cache every token); a new row is written into the
    slot of a finished one; columns no row sees any more are dropped by moving `start`.
    The buffer is zero-filled: a masked column must hold finite numbers (its attention weight
    is 0, and 0 * NaN would be NaN).
    """

    def __init__(self, keys: torch.Tensor | None, values: torch.Tensor | None, room: int):
        super().__init__()
        self._room = room
        if keys is not None and values is not None:
            self.device = keys.device
            self.is_initialized = True
            self._set(keys, values, room)

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        # An empty layer (no shared prefix) takes its shape from the first states written.
        self.device = key_states.device
        self.is_initialized = True
        self._set(key_states[:, :, :0], value_states[:, :, :0], self._room)

    def _set(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
        width = keys.shape[-2]
        self._k = _zeros_with_room(keys, room)
        self._v = _zeros_with_room(values, room)
        self.start, self.end = 0, width
        self._view()

    def _view(self) -> None:
        self.keys = self._k[:, :, self.start : self.end]
        self.values = self._v[:, :, self.start : self.end]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self.end + n > self._k.shape[-2]:
            self._set(self.keys, self.values, room=n + 64)
        self._k[:, :, self.end : self.end + n] = key_states
        self._v[:, :, self.end : self.end + n] = value_states
        self.end += n
        self._view()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.end - self.start if self.is_initialized else 0

    # ---- batch surgery (the stream keeps its mask in step) ----

    def trim(self, columns: int) -> None:
        """Forget the first `columns` columns (no row sees them): no copy."""
        self.start += columns
        self._view()

    def rebuild(self, keep: torch.Tensor | None, add: tuple[torch.Tensor, torch.Tensor] | None,
                width: int, room: int) -> None:
        """Keep rows `keep` (all when None), append the rows of `add`, right-aligned to
        `width` columns: one copy into a new buffer."""
        old_k, old_v = (self.keys, self.values) if keep is None else (self.keys[keep],
                                                                      self.values[keep])
        rows = old_k.shape[0] + (add[0].shape[0] if add is not None else 0)
        shape = (rows, old_k.shape[1], width + room, old_k.shape[-1])
        self._k = old_k.new_zeros(shape)
        self._v = old_v.new_zeros(shape)
        n, w = old_k.shape[0], old_k.shape[-2]
        self._k[:n, :, width - w : width] = old_k
        self._v[:n, :, width - w : width] = old_v
        if add is not None:
            w = add[0].shape[-2]
            self._k[n:, :, width - w : width] = add[0]
            self._v[n:, :, width - w : width] = add[1]
        self.start, self.end = 0, width
        self._view()

    def write_rows(self, slots: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> None:
        """New rows into existing slots, right-aligned (the stream made the batch wide
        enough); the slot's older columns keep the finished row's finite, masked numbers."""
        w = keys.shape[-2]
        self._k[slots, :, self.end - w : self.end] = keys
        self._v[slots, :, self.end - w : self.end] = values


def _zeros_with_room(x: torch.Tensor, room: int) -> torch.Tensor:
    out = x.new_zeros((*x.shape[:-2], x.shape[-2] + room, x.shape[-1]))
    out[:, :, : x.shape[-2]] = x
    return out


def _pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Left-pad a [rows, columns] mask with invisible columns up to `width`."""
    missing = width - mask.shape[1]
    if missing <= 0:
        return mask
    return torch.cat([mask.new_zeros((mask.shape[0], missing)), mask], dim=1)


class PrefixCache:
    """Keys and values of prompt prefixes at batch 1, the most recently used kept.

    Valid for one model state (one adapter): the engine clears it when the adapter changes
    and when the call ends.
    """

    def __init__(self, forward: Callable[..., tuple[torch.Tensor, Cache]], max_entries: int = 8):
        self._forward = forward
        self._entries: OrderedDict[Tokens, LayerKV] = OrderedDict()
        self._max = max_entries

    def get(self, tokens: Tokens, rows: int) -> tuple[int, LayerKV | None]:
        """Keys and values of the longest prefix of `tokens` worth serving to `rows` rows,
        and its length: what is cached (sliced), extended when one batch-1 pass over the
        missing tokens saves the rows more than it costs."""
        best, shared = None, 0
        for key in self._entries:
            n = _common_length(key, tokens)
            if n > shared:
                best, shared = key, n
        cached = None
        if best is not None:
            self._entries.move_to_end(best)
            cached = [(k[:, :, :shared], v[:, :, :shared]) for k, v in self._entries[best]]
        missing = len(tokens) - shared
        # A pass costs about one weight read; every row but one is spared `missing` tokens.
        if missing == 0 or (rows - 1) * missing < _EXTEND_AT_LEAST:
            return shared, cached
        kv = self._extend(cached, tokens, shared)
        self._entries[tokens] = kv
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return len(tokens), kv

    def _extend(self, start: LayerKV | None, tokens: Tokens, done: int) -> LayerKV:
        rest = torch.tensor([tokens[done:]])
        positions = torch.arange(done, len(tokens)).unsqueeze(0)
        cache = Cache(layers=[_SlotLayer(k, v, room=len(tokens) - done)
                              for k, v in start]) if start is not None else None
        _, cache = self._forward(rest, positions, torch.ones(1, len(tokens), dtype=torch.long),
                                 cache)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def clear(self) -> None:
        self._entries.clear()


# Tokens a prefix extension must spare the rows. On a 2-core CPU a batch-1 pass (one read of
# the weights, 130 ms) costs as much as 30 to 90 prompt tokens computed in a batch (1.4 to
# 4.4 ms a token, quiet to busy machine); erring low only computes a prefix once too often.
_EXTEND_AT_LEAST = 32


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every prompt starts with, leaving each at least one token of
    its own (the logits of its first answer token come from its last prompt token)."""
    if not prompts:
        return 0
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        n = min(n, _common_length(first, p))
    return max(n, 0)


# A forward pass costs about one read of the weights: on a 2-core CPU as much as 30 to 90
# prompt tokens computed in a batch (see _EXTEND_AT_LEAST); a part more must spare that much
# padding.
_PASS_TOKENS = 64


def by_length(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of rows cut into parts of similar length, each to be computed in one padded
    pass: the cut that computes the fewest tokens, a pass counted as `_PASS_TOKENS` more
    (rows sorted by length, then an exact split of the sorted list)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        widest = lengths[order[j - 1]]
        for i in range(j):  # the last part is sorted rows [i, j), padded to the widest
            cost = best[i] + (j - i) * widest + _PASS_TOKENS
            if cost < best[j]:
                best[j], cut[j] = cost, i
    parts, j = [], n
    while j > 0:
        parts.append(order[cut[j]:j])
        j = cut[j]
    return parts[::-1]


# ---- the loop --------------------------------------------------------------------------------


class Decoder:
    """Decodes rows in batches of at most `batch_size` on one model state (adapter chosen by
    the caller); `on_done(row)` is called as each row finishes."""

    def __init__(self, model: Any, *, eos_ids: Sequence[int], pad_id: int, device: str,
                 batch_size: int, decode_text: Callable[[list[int]], str],
                 first_stop: Callable[[str, Sequence[str]], int | None],
                 options: DecodeOptions | None = None):
        self._model = model
        self._eos = frozenset(eos_ids)
        self._pad = pad_id
        self._device = device
        self._batch_size = batch_size
        self._decode_text = decode_text
        self._first_stop = first_stop
        self.options = options or DecodeOptions()
        self.prefixes = PrefixCache(self._forward)
        self.forward_passes = 0  # for the bench

    # ---- model calls -----------------------------------------------------------------------

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
                 cache: Cache | None, shared: list[SharedPrefix] | None = None
                 ) -> tuple[torch.Tensor, Cache]:
        """Logits of each row's last column, and the cache with the new columns appended
        (`shared`: prefixes the rows attend to besides their cache)."""
        if cache is None:
            cache = Cache(layers=[_SlotLayer(None, None, room=input_ids.shape[1])
                                  for _ in range(_num_layers(self._model))])
        self.forward_passes += 1
        extra = {"shared_prefix": shared} if shared else {}
        try:
            out = self._model(input_ids=input_ids.to(self._device),
                              attention_mask=mask.to(self._device),
                              position_ids=positions.to(self._device), cache=cache,
                              use_cache=True, logits_to_keep=1, **extra)
        except RuntimeError as exc:  # out of memory, a device error: the backend is gone
            raise EngineError(f"local generation failed: {exc}") from exc
        # As generate: the last column's logits, copied out, in float32.
        return out.logits[:, -1].to(copy=True, dtype=torch.float32), cache

    # ---- public ----------------------------------------------------------------------------

    def run(self, rows: Sequence[Row], sampling: Sampling,
            on_done: Callable[[Row], None],
            rng: Callable[[], Any] | None = None) -> None:
        """Decode `rows` in their order. Greedy with refill: one stream, rows joining as others
        leave. Otherwise: consecutive batches of `batch_size` (the batches `generate` saw),
        each under `rng()` (a fresh seeded random state) when sampling."""
        greedy = sampling.temperature <= 0
        if greedy and self.options.refill and self.options.drop_finished:
            _Stream(self, list(rows), sampling, on_done, refill=True).run()
            return
        for start in range(0, len(rows), self._batch_size):
            wave = list(rows[start : start + self._batch_size])
            for slot, row in enumerate(wave):
                row.slot = slot
            context = rng() if (rng is not None and not greedy) else None
            if context is None:
                _Stream(self, wave, sampling, on_done, refill=False).run()
            else:
                with context:
                    _Stream(self, wave, sampling, on_done, refill=False).run()


def _num_layers(model: Any) -> int:
    return model.config.get_text_config(decoder=True).num_hidden_layers


class _Stream:
    """One batch in flight: its cache, which columns each row may see, and where each row's
    next token goes. A slot whose row finished keeps computing (a row costs little next to
    the weights every step reads) until a waiting row takes it, or, with nothing waiting,
    until enough slots are idle to be worth a copy of the cache without them."""

    def __init__(self, decoder: Decoder, pending: list[Row], sampling: Sampling,
                 on_done: Callable[[Row], None], refill: bool):
        self.d = decoder
        self.pending = pending
        self.sampling = sampling
        self.on_done = on_done
        self.refill = refill
        self.planned = len(pending)  # the batch width generate would have: its random draws
        self.rows: list[Row] = []
        self.alive: list[bool] = []
        self.prefix_of: list[_Prefix | None] = []  # per slot: the shared prefix it attends to
        self.shared: list[_Prefix] = []
        self.layers: list[_SlotLayer] = []
        self.mask = torch.zeros((0, 0), dtype=torch.long)  # [rows, columns] 1 = visible
        self.next_pos = torch.zeros(0, dtype=torch.long)
        self.last = torch.zeros(0, dtype=torch.long)
        self._warpers = _warpers(sampling)

    def run(self) -> None:
        while self.pending or self.rows:
            free = self.d._batch_size - self._alive_count()
            wanted = min(self._enough_idle(self.d._batch_size), len(self.pending))
            if self.pending and (not self.rows or (self.refill and free >= wanted)):
                self._admit()
            elif self.rows:
                self._step()

    def _alive_count(self) -> int:
        return sum(self.alive)

    def _enough_idle(self, rows: int) -> int:
        return max(1, int(rows * self.d.options.idle_share))

    def _reset(self) -> None:
        self.rows, self.alive, self.layers = [], [], []
        self.prefix_of, self.shared = [], []
        self.mask = torch.zeros((0, 0), dtype=torch.long)
        self.next_pos = self.last = torch.zeros(0, dtype=torch.long)

    # ---- admitting rows ----------------------------------------------------------------------

    def _admit(self) -> None:
        started = time.perf_counter()
        room = self.d._batch_size - self._alive_count()  # idle slots and free ones
        new = self.pending[:room]
        del self.pending[:room]
        prompts = [r.prompt for r in new]
        shared, prefix_kv = 0, None
        if self.d.options.share_prefix:
            common = common_prefix(prompts)
            if common:
                shared, prefix_kv = self.d.prefixes.get(tuple(prompts[0][:common]), len(new))
        # Columns [0, own): a prefix kept once for the stream; [own, shared): the rest of the
        # prefix computed once for these rows, copied into each; then each row's own tokens.
        prefix = self._shared_prefix(prompts, shared, prefix_kv)
        own = len(prefix.tokens) if prefix is not None else 0
        start = max(own, shared)
        # Greedy rows go in by length, in parts padded little (sampled ones in one pass: the
        # first token's random draw is one for the whole batch, as in generate).
        greedy = self.sampling.temperature <= 0
        parts = (by_length([len(p) - start for p in prompts])
                 if greedy and self.d.options.split_by_length else [list(range(len(new)))])
        chosen: list[tuple[list[Row], list[int]]] = []
        for part in parts:
            rows = [new[i] for i in part]
            tokens = self._prefill(rows, start, own, prefix_kv, prefix)
            chosen.append((rows, tokens))
        share = (time.perf_counter() - started) / len(new)
        for row in new:
            row.seconds += share
        for rows, tokens in chosen:  # after all are placed: a finished row frees its slot
            self._record(rows, tokens)

    def _prefill(self, new: list[Row], start: int, own: int, prefix_kv: LayerKV | None,
                 prefix: _Prefix | None) -> list[int]:
        """One forward pass over the rows' prompts from column `start`; the rows are placed in
        the batch and their first tokens returned."""
        idle = [i for i, a in enumerate(self.alive) if not a]
        rests = [r.prompt[start:] for r in new]
        width = max(len(r) for r in rests)
        ids = torch.tensor([[self.d._pad] * (width - len(r)) + r for r in rests])
        rest_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rests])
        positions = torch.tensor([[1] * (width - len(r)) + list(range(start, start + len(r)))
                                  for r in rests])
        copied = start - own
        mask = torch.cat([torch.ones((len(new), copied), dtype=torch.long), rest_mask], dim=1)
        cache = None
        if prefix_kv is not None and copied:
            cache = Cache(layers=[_SlotLayer(k[:, :, own:start].expand(len(new), -1, -1, -1),
                                             v[:, :, own:start].expand(len(new), -1, -1, -1),
                                             room=width)
                                  for k, v in prefix_kv])
        logits, cache = self.d._forward(
            ids, positions, mask, cache,
            [SharedPrefix(prefix.layers)] if prefix is not None else None)
        tokens = self._choose(logits, new)
        self._place(new, idle, cache, mask,
                    torch.tensor([start + len(r) for r in rests]), torch.tensor(tokens), prefix)
        return tokens

    def _shared_prefix(self, prompts: list[list[int]], shared: int,
                       prefix_kv: LayerKV | None) -> _Prefix | None:
        """The prefix the admitted rows attend to once: the longest the stream keeps that
        they all start with, else the one just computed for them, if long enough."""
        if not self.d.options.shared_attention:
            return None
        for prefix in sorted(self.shared, key=lambda p: -len(p.tokens)):
            n = len(prefix.tokens)
            if all(len(p) > n and tuple(p[:n]) == prefix.tokens for p in prompts):
                return prefix
        if prefix_kv is None or shared < MIN_TOKENS:
            return None
        used = {id(p) for p in self.prefix_of}
        self.shared = [p for p in self.shared if id(p) in used]  # forget those no slot uses
        prefix = _Prefix(tuple(prompts[0][:shared]),
                         [(k[:, :, :shared], v[:, :, :shared]) for k, v in prefix_kv])
        self.shared.append(prefix)
        return prefix

    def _shared_args(self) -> list[SharedPrefix] | None:
        """This step's shared prefixes and the slots of each (None: every slot)."""
        slots: dict[int, tuple[_Prefix, list[int]]] = {}
        for i, prefix in enumerate(self.prefix_of):
            if prefix is not None:
                slots.setdefault(id(prefix), (prefix, []))[1].append(i)
        if not slots:
            return None
        return [SharedPrefix(prefix.layers,
                             None if len(rows) == len(self.rows) else torch.tensor(rows))
                for prefix, rows in slots.values()]

    def _place(self, new: list[Row], idle: list[int], cache: Cache, mask: torch.Tensor,
               next_pos: torch.Tensor, last: torch.Tensor, prefix: _Prefix | None) -> None:
        """Put the admitted rows into idle slots, the rest at the end of the batch."""
        new_layers: list[_SlotLayer] = cache.layers  # type: ignore[assignment]
        if not self.rows:
            self.layers = new_layers
            self.rows, self.alive = list(new), [True] * len(new)
            self.prefix_of = [prefix] * len(new)
            self.mask, self.next_pos, self.last = mask, next_pos, last
            return
        width = max(self.mask.shape[1], mask.shape[1])
        into = idle[: len(new)]
        appended = len(new) - len(into)
        if width > self.mask.shape[1] or appended:
            # Wider, or more rows: one copy of the batch into a bigger buffer.
            extra = slice(len(into), len(new))
            for layer, add in zip(self.layers, new_layers, strict=True):
                layer.rebuild(None, (add.keys[extra], add.values[extra]) if appended else None,
                              width, room=64)
            self.mask = _pad_mask(self.mask, width)
            if appended:
                self.mask = torch.cat([self.mask, _pad_mask(mask[extra], width)])
                self.next_pos = torch.cat([self.next_pos, next_pos[extra]])
                self.last = torch.cat([self.last, last[extra]])
                self.rows += new[len(into):]
                self.alive += [True] * appended
                self.prefix_of += [prefix] * appended
        if into:
            slots = torch.tensor(into)
            device_slots = slots.to(self.d._device)
            for layer, add in zip(self.layers, new_layers, strict=True):
                layer.write_rows(device_slots, add.keys[: len(into)], add.values[: len(into)])
            self.mask[slots] = _pad_mask(mask[: len(into)], width)
            self.next_pos[slots] = next_pos[: len(into)]
            self.last[slots] = last[: len(into)]
            for slot, row in zip(into, new, strict=False):
                self.rows[slot] = row
                self.alive[slot] = True
                self.prefix_of[slot] = prefix

    def _drop_idle(self) -> None:
        """Rows that finished leave the batch (one copy of the cache without them)."""
        keep = [i for i, a in enumerate(self.alive) if a]
        index = torch.tensor(keep)
        device_index = index.to(self.d._device)
        width = self.mask.shape[1]
        for layer in self.layers:
            layer.rebuild(device_index, None, width, room=64)
        self.rows = [self.rows[i] for i in keep]
        self.prefix_of = [self.prefix_of[i] for i in keep]
        self.alive = [True] * len(keep)
        self.mask, self.next_pos, self.last = (self.mask[index], self.next_pos[index],
                                               self.last[index])

    def _trim(self) -> None:
        """Columns no row sees any more (on the left) leave, without a copy."""
        seen = self.mask.any(dim=0)
        if bool(seen[0]):
            return
        first = int(seen.nonzero()[0]) if bool(seen.any()) else self.mask.shape[1]
        for layer in self.layers:
            layer.trim(first)
        self.mask = self.mask[:, first:]

    # ---- one decode step ---------------------------------------------------------------------

    def _step(self) -> None:
        started = time.perf_counter()
        idle = len(self.rows) - self._alive_count()
        waiting = self.refill and self.pending
        if (idle and self.d.options.drop_finished and not waiting
                and idle >= self._enough_idle(len(self.rows))):
            self._drop_idle()
        self._trim()
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=torch.long)],
                              dim=1)
        logits, _ = self.d._forward(self.last[:, None], self.next_pos[:, None], self.mask,
                                    Cache(layers=self.layers), self._shared_args())
        self.next_pos = self.next_pos + 1
        live = [i for i, a in enumerate(self.alive) if a]
        rows = [self.rows[i] for i in live]
        tokens = self._choose(logits[live] if len(live) < len(self.rows) else logits, rows)
        for i, token in zip(live, tokens, strict=True):
            self.last[i] = token
        share = (time.perf_counter() - started) / len(rows)
        for row in rows:
            row.seconds += share
        self._record(rows, tokens)

    def _record(self, rows: list[Row], tokens: list[int]) -> None:
        done = []
        for row, token in zip(rows, tokens, strict=True):
            row.tokens.append(token)
            if self._finished(row, token):
                done.append(row)
        if not done:
            return
        finished = {id(r) for r in done}
        for i, row in enumerate(self.rows):
            if id(row) in finished:
                self.alive[i] = False
        for row in done:
            self.on_done(row)
        if not any(self.alive):  # the whole batch is done: start afresh
            self._reset()

    def _finished(self, row: Row, token: int) -> bool:
        if row.matcher is not None:
            row.matcher.accept_token(token)
            if row.matcher.is_terminated():
                return True
        if token in self.d._eos or len(row.tokens) >= row.max_tokens:
            return True
        if row.stops:
            return self.d._first_stop(self.d._decode_text(row.tokens), row.stops) is not None
        return False

    # ---- choosing tokens -----------------------------------------------------------------------

    def _choose(self, logits: torch.Tensor, rows: list[Row]) -> list[int]:
        constrained = [i for i, r in enumerate(rows) if r.matcher is not None]
        if constrained:
            _apply_grammar(logits, [rows[i].matcher for i in constrained], constrained)
        if self.sampling.temperature <= 0:
            return torch.argmax(logits, dim=-1).tolist()
        scores = logits
        for warper in self._warpers:
            scores = warper(None, scores)
        probs = torch.nn.functional.softmax(scores, dim=-1)
        # torch.multinomial(probs, 1) is argmax(probs / q), q ~ Exp(1) of probs' shape: draw q
        # for the whole planned batch, as generate does every step.
        noise = torch.empty((self.planned, probs.shape[-1]), dtype=probs.dtype,
                            device=probs.device).exponential_(1)
        slots = torch.tensor([r.slot for r in rows], device=probs.device)
        return torch.argmax(probs / noise[slots], dim=-1).tolist()


def _warpers(sampling: Sampling) -> list[Any]:
    """The logits warpers generate builds for temperature and top-p (top-k is off)."""
    if sampling.temperature <= 0:
        return []
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    warpers: list[Any] = []
    if sampling.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(sampling.top_p))
    return warpers


def _apply_grammar(logits: torch.Tensor, matchers: list[Any], indices: list[int]) -> None:
    import xgrammar as xgr

    bitmask = xgr.allocate_token_bitmask(logits.shape[0], logits.shape[-1])
    for matcher, i in zip(matchers, indices, strict=True):
        matcher.fill_next_token_bitmask(bitmask, i)
    xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device), indices=indices)
