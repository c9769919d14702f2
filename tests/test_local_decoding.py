"""The local engine's own decode loop (harness/engines/_decode.py) on the real SmolLM2-135M:
its outputs equal `model.generate`'s (the correctness bar of prefix reuse and refilled
batches), stop strings, seeded sampling, adapters, and xgrammar-constrained decoding."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import torch

from harness.engines._decode import DecodeOptions, common_prefix
from harness.engines._transformers import LocalEngine
from harness.types import AdapterRef, GenerationParams, Request, ResponseFormat
from tests.test_local_engine import make_adapter

# peft calls a transformers API deprecated in v5 while building the test adapter.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

# The demo's shape: a system prompt and few-shot turns every request shares, then a question.
SYSTEM = ("You are the customer-support assistant of Lumen City Transit (LCT).\n"
          "Reply with exactly one line of JSON and nothing else:\n"
          '{"topic": "<topic>", "answer": "<one or two short sentences>"}')
SHOTS = [
    ("do I get a cheaper fare at 67?",
     '{"topic": "fares", "answer": "Passengers aged 65 and over pay 1.10 credits."}'),
    ("bikes on buses?",
     '{"topic": "bikes", "answer": "Only folded folding bikes are allowed on buses."}'),
]
QUESTIONS = [
    "Can I change lines on one ticket?",
    "hi",
    "Is there a daily fare cap, and how does it work when I switch between buses, trams "
    "and the metro on the same day?",
    "Are dogs allowed?",
    "Where do I report a lost umbrella?",
    "What time does the last night bus leave Central Exchange on Saturdays?",
    "How do I get a refund for a delayed train?",
]
BATCH = 3  # fewer than the requests: rows leave and others take their places
GREEDY = GenerationParams(max_tokens=40)
# The tiny model left alone answers these in prose, not in these shapes.
SCHEMA = {
    "type": "object",
    "properties": {"capital": {"enum": ["Paris", "Rome", "Berlin", "Madrid"]},
                   "sure": {"type": "boolean"}},
    "required": ["capital", "sure"],
    "additionalProperties": False,
}
CODE = r"[A-Z]{3}-[0-9]{4}"


def support(question: str, params: GenerationParams = GREEDY,
            adapter: AdapterRef | None = None) -> Request:
    turns: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    for user, assistant in SHOTS:
        turns += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    turns.append({"role": "user", "content": question})
    return Request(messages=tuple(turns), params=params, adapter=adapter)


def ask(question: str, params: GenerationParams, fmt: ResponseFormat | None = None) -> Request:
    return Request(messages=({"role": "user", "content": question},), params=params,
                   response_format=fmt)


@pytest.fixture(scope="module")
def engine(default_model):
    with LocalEngine(default_model, dtype="float32", batch_size=BATCH) as eng:
        yield eng


@pytest.fixture(scope="module")
def plain(default_model):
    """A second copy of the model, for the reference: plain `model.generate`."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(default_model.path, dtype=torch.float32).eval()


def reference(model, engine: LocalEngine, requests: list[Request], **sampling) -> list[list[int]]:
    """What `model.generate` answers, one left-padded batch per call, tokens up to and with eos."""
    prompts = [engine.encode(r.messages) for r in requests]
    width = max(len(p) for p in prompts)
    eos, pad = engine._eos_ids, engine._pad_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    options = sampling or {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, eos_token_id=eos,
                             pad_token_id=pad, repetition_penalty=1.0,
                             max_new_tokens=requests[0].params.max_tokens, **options)
    rows = []
    for row in out[:, width:].tolist():
        ends = [i for i, t in enumerate(row) if t in eos]
        rows.append(row[: ends[0] + 1] if ends else row)
    return rows


def texts(engine: LocalEngine, rows: list[list[int]]) -> list[str]:
    return [engine._tokenizer.decode(r, skip_special_tokens=True) for r in rows]


class ForwardCounter:
    """Counts the tokens pushed through the model (its forward calls' input ids)."""

    def __init__(self, model):
        self.tokens = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        self.tokens += kwargs["input_ids"].numel()

    def close(self):
        self._handle.remove()


# ---- equality with model.generate ----------------------------------------------------------


def test_greedy_outputs_equal_model_generate_with_a_shared_prefix_computed_once(engine, plain):
    requests = [support(q) for q in QUESTIONS]
    prompts = [engine.encode(r.messages) for r in requests]
    shared = common_prefix(prompts)
    assert shared > 100  # the system prompt and few-shot turns

    counter = ForwardCounter(engine._base)
    shared_calls = []
    handle = engine._base.register_forward_pre_hook(
        lambda module, args, kwargs: shared_calls.append(bool(kwargs.get("shared_prefix"))),
        with_kwargs=True)
    try:
        responses = engine.generate(requests)
    finally:
        counter.close()
        handle.remove()
    expected = reference(plain, engine, requests)
    # On a CPU the rows attend to the prefix kept once (the engine's default there).
    assert any(shared_calls) == (engine._device == "cpu")

    assert [r.text for r in responses] == texts(engine, expected)
    assert [r.completion_tokens for r in responses] == [len(t) for t in expected]
    # Uneven answers: some ended on eos, some ran to max_tokens, at different lengths.
    assert {r.finish_reason for r in responses} == {"stop", "length"}
    assert len({r.completion_tokens for r in responses}) >= 3
    # The shared prefix went through the model once, not once per request: the prompt tokens
    # computed (all tokens but one per generated token after the first) are fewer than the
    # prompts hold beyond the prefix, plus the prefix twice (padding of uneven rests aside).
    decoded = sum(r.completion_tokens for r in responses) - len(responses)
    rests = sum(len(p) - shared for p in prompts)
    assert counter.tokens - decoded < rests + 2 * shared
    assert all(r.latency_s > 0 and r.prompt_tokens == len(p)
               for r, p in zip(responses, prompts, strict=True))


def test_rows_under_an_adapter_equal_generate_under_that_adapter_beside_base_rows(
    engine, plain, default_model, tmp_path_factory
):
    from peft import PeftModel

    adapter = make_adapter(default_model.path, tmp_path_factory.mktemp("adapter") / "a", seed=1)
    params = GenerationParams(max_tokens=16)
    tuned = [support(q, params, adapter) for q in QUESTIONS[:4]]
    base = [support(q, params) for q in QUESTIONS[:2]]
    responses = engine.generate([tuned[0], base[0], *tuned[1:], base[1]])

    peft_model = PeftModel.from_pretrained(plain, adapter.path)
    try:
        expected_tuned = texts(engine, reference(peft_model, engine, tuned))
    finally:
        peft_model.unload()  # gives `plain` back without its LoRA layers
    expected_base = texts(engine, reference(plain, engine, base))

    got = [r.text for r in responses]
    assert [got[0], *got[2:5]] == expected_tuned
    assert [got[1], got[5]] == expected_base
    assert expected_tuned[0] != texts(engine, reference(plain, engine, tuned[:1]))[0]


def test_rows_of_two_system_prompts_decoded_together_each_attend_to_their_own_prefix_as_generate(
    default_model, plain
):
    other = ("You are the travel assistant of the Northern Ferry Company. Answer in one short "
             "sentence, name the ferry line and the pier, and never invent a timetable.")
    ferry = [Request(messages=({"role": "system", "content": other},
                               {"role": "user", "content": q}), params=GREEDY)
             for q in QUESTIONS[:5]]
    requests = [support(q) for q in QUESTIONS[:5]] + ferry + [ask("hi", GREEDY)]
    seen: list[list] = []
    with LocalEngine(default_model, dtype="float32", batch_size=4) as engine:
        # Rows join two at a time: enough for the second system prompt to be computed once
        # while rows of the first are still decoding.
        engine._decoder.options = DecodeOptions(shared_attention=True, idle_share=0.5)
        engine._base.register_forward_pre_hook(
            lambda module, args, kwargs: seen.append(kwargs.get("shared_prefix") or []),
            with_kwargs=True)
        responses = engine.generate(requests)

    assert [r.text for r in responses] == texts(engine, reference(plain, engine, requests))
    # Some steps decoded rows of both prefixes at once, each prefix serving only its rows.
    assert any(len(call) == 2 and all(p.rows is not None for p in call) for call in seen)


# ---- stop strings --------------------------------------------------------------------------


def test_stop_string_cuts_only_the_rows_that_contain_it_and_finishes_them_with_stop(engine):
    requests = [support(q) for q in QUESTIONS[:4]]
    free = engine.generate(requests)
    stop = '"answer"'
    params = GenerationParams(max_tokens=40, stop=(stop,))
    stopped = engine.generate([support(q, params) for q in QUESTIONS[:4]])

    for before, after in zip(free, stopped, strict=True):
        if stop in before.text:
            assert after.text == before.text[: before.text.index(stop)]
            assert after.finish_reason == "stop"
            assert 0 < after.completion_tokens < before.completion_tokens
        else:
            assert (after.text, after.finish_reason) == (before.text, before.finish_reason)
    assert any(stop in r.text for r in free)


# ---- sampling ------------------------------------------------------------------------------


def test_sampling_is_seeded_reproducible_and_draws_what_generate_draws(engine, plain):
    params = GenerationParams(max_tokens=12, temperature=0.9, top_p=0.9, seed=11)
    requests = [ask(q, params) for q in ("hi", "Name a colour.", "Describe a lighthouse.")]
    first = [r.text for r in engine.generate(requests)]
    assert [r.text for r in engine.generate(requests)] == first
    other = GenerationParams(max_tokens=12, temperature=0.9, top_p=0.9, seed=12)
    assert [r.text for r in engine.generate([ask(r.messages[0]["content"], other)
                                             for r in requests])] != first

    # The batch generate sees is the prompts sorted by length, seeded with params.seed.
    by_length = sorted(range(len(requests)), key=lambda i: len(engine.encode(requests[i].messages)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        rows = reference(plain, engine, [requests[i] for i in by_length], do_sample=True,
                         temperature=0.9, top_p=0.9, top_k=0)
    expected = dict(zip(by_length, texts(engine, rows), strict=True))
    assert first == [expected[i] for i in range(len(requests))]


# ---- constrained decoding -------------------------------------------------------------------


def test_json_schema_the_model_fails_alone_is_satisfied_when_constrained(engine):
    params = GenerationParams(max_tokens=32)
    fmt = ResponseFormat(json_schema=SCHEMA, name="capital")
    questions = ["What is the capital of France?", "Which city is the capital of Italy?"]
    alone = engine.generate([ask(q, params) for q in questions])
    for response in alone:
        with pytest.raises((json.JSONDecodeError, jsonschema.ValidationError)):
            jsonschema.validate(json.loads(response.text), SCHEMA)

    # Constrained and unconstrained rows share the batch; the free row is unchanged.
    mixed = engine.generate([ask(questions[0], params, fmt), ask(questions[0], params),
                             ask(questions[1], params, fmt)])
    for response in (mixed[0], mixed[2]):
        jsonschema.validate(json.loads(response.text), SCHEMA)
        assert response.finish_reason == "stop"
    assert mixed[1].text == alone[0].text


def test_regex_the_model_fails_alone_is_matched_when_constrained(engine):
    params = GenerationParams(max_tokens=16)
    question = "Give me a product code."
    (alone,) = engine.generate([ask(question, params)])
    assert not re.fullmatch(CODE, alone.text)
    (constrained,) = engine.generate([ask(question, params, ResponseFormat(regex=CODE))])
    assert re.fullmatch(CODE, constrained.text)
    assert constrained.finish_reason == "stop"
    assert constrained.completion_tokens > 1


def test_a_format_that_does_not_compile_is_an_error_for_that_request_only(engine):
    params = GenerationParams(max_tokens=4)
    fine, broken = engine.generate([ask("hi", params),
                                    ask("hi", params, ResponseFormat(regex="([a-z"))])
    assert not fine.failed and fine.text
    assert broken.failed and "regex" in broken.error and "could not be compiled" in broken.error


# ---- the loop's edges ----------------------------------------------------------------------


def test_rows_that_end_on_their_first_token_leave_and_the_rest_still_decode(engine, plain):
    one = GenerationParams(max_tokens=1)
    requests = [support(q, one) for q in QUESTIONS]
    responses = engine.generate(requests)
    assert [r.completion_tokens for r in responses] == [1] * len(requests)
    assert [r.text for r in responses] == texts(engine, reference(plain, engine, requests))


def test_an_exception_from_the_progress_callback_goes_through_unchanged(engine):
    class Stop(RuntimeError):  # a RuntimeError, like the spending limit could be
        pass

    def progress(index, response):
        raise Stop("spent")

    with pytest.raises(Stop, match="spent"):
        engine.generate([ask("hi", GenerationParams(max_tokens=3))], progress=progress)
