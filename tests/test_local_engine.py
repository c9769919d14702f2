"""LocalEngine on the real embedded SmolLM2-135M: batching, token accounting, stops, adapters."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from harness.devices import default_device
from harness.engines._batching import plan_batches
from harness.engines._transformers import LocalEngine, resolve_dtype_name, serving_name
from harness.errors import ModelError
from harness.types import AdapterRef, GenerationParams, Request

# peft calls a transformers API deprecated in v5 while building the test adapters.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

QUESTIONS = [
    "What is the capital of France?",
    "hi",
    "Explain in two sentences why the sky looks blue on a clear afternoon, for a ten-year-old.",
    "Name three primary colors.",
    "How many legs does a spider have? Answer with a number and then one short sentence.",
]
GREEDY = GenerationParams(max_tokens=16)
OPEN = "Describe a lighthouse."  # open-ended: a random adapter visibly changes the answer
SHORT = GenerationParams(max_tokens=12)


def ask(question: str, params: GenerationParams = GREEDY, adapter: AdapterRef | None = None):
    return Request(messages=({"role": "user", "content": question},), params=params,
                   adapter=adapter)


@pytest.fixture(scope="module")
def engine(default_model):
    with LocalEngine(default_model, batch_size=4) as eng:
        yield eng


def make_adapter(base_path: str, folder: Path, seed: int) -> AdapterRef:
    """A real LoRA adapter with seeded random factors, strong enough to change the output.

    Both factors are seeded: peft draws lora_A from the global RNG, and an unlucky draw made two
    "different" adapters answer alike. lora_alpha 32 (scale 4) keeps the effect well above noise.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # peft initialises lora_B to zero (a no-op adapter) and lora_A unseeded.
            if "lora_A" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
            elif "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    model.save_pretrained(folder)
    digest = hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()
    return AdapterRef(name=f"random-{seed}", path=str(folder), content_hash=digest, rank=8)


@pytest.fixture(scope="module")
def adapters(default_model, tmp_path_factory) -> list[AdapterRef]:
    root = tmp_path_factory.mktemp("adapters")
    return [make_adapter(default_model.path, root / f"a{seed}", seed) for seed in (1, 2, 3)]


# ---- batching plan (no model) ------------------------------------------------------------


def test_plan_puts_base_first_and_keeps_each_adapter_contiguous_sorted_by_length():
    a = AdapterRef("a", "/a", "h" * 64)
    b = AdapterRef("b", "/b", "g" * 64)
    other = GenerationParams(max_tokens=5)
    requests = [ask("x", adapter=a), ask("x"), ask("x", adapter=b), ask("x", other, a),
                ask("x"), ask("x", adapter=a), ask("x")]
    lengths = [5, 9, 3, 4, 1, 2, 5]
    batches = plan_batches(requests, lengths, batch_size=2)

    assert [(bt.adapter.name if bt.adapter else None) for bt in batches] == [
        None, None, "a", "a", "b"]
    assert [bt.indices for bt in batches] == [(4, 6), (1,), (5, 0), (3,), (2,)]
    assert sorted(i for bt in batches for i in bt.indices) == list(range(len(requests)))
    for bt in batches:  # nothing mixes parameters or adapters within a batch
        assert {requests[i].params for i in bt.indices} == {bt.params}
        assert {requests[i].adapter for i in bt.indices} == {bt.adapter}


# ---- generation --------------------------------------------------------------------------


def test_identity_names_kind_model_and_the_dtype_the_factory_predicts(engine, default_model):
    identity = engine.identity()
    assert identity == {"kind": "local", "model": default_model.identity,
                        "dtype": resolve_dtype_name("auto"),
                        **({"adapters": "merged", "attention": "shared-prefix"}
                           if default_device() == "cpu" else {})}


def test_an_engine_that_does_not_merge_adapters_keeps_the_identity_it_had(default_model):
    with LocalEngine(default_model, merge_adapters=False) as unmerged:
        assert "adapters" not in unmerged.identity()


def test_batched_greedy_output_equals_one_at_a_time_output_in_fp32(default_model):
    # fp32: left padding leaves greedy tokens unchanged. bf16 does not promise this: another
    # batch shape rounds differently and near-tied tokens flip (see harness/engines/local.py).
    with LocalEngine(default_model, dtype="float32", batch_size=8) as fp32:
        assert fp32.identity()["dtype"] == "float32"
        requests = [ask(q, SHORT) for q in QUESTIONS[:4]]
        batched = fp32.generate(requests)
        alone = [fp32.generate([r])[0] for r in requests]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in alone]


def test_responses_come_back_in_input_order_when_prompt_lengths_vary(engine):
    requests = [ask(q) for q in QUESTIONS]  # lengths deliberately unsorted
    responses = engine.generate(requests)
    expected_lengths = [len(engine.encode(r.messages)) for r in requests]
    assert len(set(expected_lengths)) == len(requests)  # each prompt identifiable by length
    assert [r.prompt_tokens for r in responses] == expected_lengths
    assert "Paris" in responses[0].text


def test_token_counts_match_the_tokenizer(engine, default_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    (response,) = engine.generate([ask(QUESTIONS[0])])

    # As vLLM's chat endpoint: the template's own special tokens, no extra BOS.
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert response.prompt_tokens == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    # An answer that ended on eos counts its tokens plus the eos itself.
    assert response.finish_reason == "stop"
    completion = tokenizer(response.text, add_special_tokens=False)["input_ids"]
    assert response.completion_tokens == len(completion) + 1


def test_stop_string_truncates_text_before_it_and_finishes_with_stop(engine):
    (free,) = engine.generate([ask(QUESTIONS[3])])
    stop = free.text.split()[3]  # a word from the middle of the unstopped answer
    params = GenerationParams(max_tokens=16, stop=(stop,))
    (stopped,) = engine.generate([ask(QUESTIONS[3], params)])

    assert stopped.text == free.text[: free.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert 0 < stopped.completion_tokens < free.completion_tokens


def test_max_tokens_cut_gives_finish_reason_length(engine):
    params = GenerationParams(max_tokens=3)
    responses = engine.generate([ask(QUESTIONS[2], params), ask(QUESTIONS[4], params)])
    assert [r.finish_reason for r in responses] == ["length", "length"]
    assert [r.completion_tokens for r in responses] == [3, 3]
    assert all(r.text and r.latency_s > 0 for r in responses)


def test_progress_is_called_once_per_request_with_its_index(engine):
    calls = []
    requests = [ask(q, GenerationParams(max_tokens=4)) for q in QUESTIONS]
    responses = engine.generate(requests, progress=lambda i, r: calls.append((i, r)))
    assert sorted(i for i, _ in calls) == list(range(len(requests)))
    for i, response in calls:
        assert response is responses[i]


def test_sampling_with_the_same_seed_is_reproducible(engine):
    params = GenerationParams(max_tokens=12, temperature=1.0, seed=7)
    requests = [ask(q, params) for q in QUESTIONS[:3]]
    first = [r.text for r in engine.generate(requests)]
    assert [r.text for r in engine.generate(requests)] == first


# ---- adapters ----------------------------------------------------------------------------


def test_adapter_changes_output_while_base_requests_in_the_same_call_keep_base_output(
    engine, adapters
):
    base_only = engine.generate([ask(OPEN, SHORT), ask(QUESTIONS[3], SHORT)])
    mixed = engine.generate([ask(OPEN, SHORT), ask(OPEN, SHORT, adapters[0]),
                             ask(QUESTIONS[3], SHORT)])
    assert [mixed[0].text, mixed[2].text] == [r.text for r in base_only]
    assert mixed[1].text != base_only[0].text


def test_two_different_adapters_give_different_outputs(engine, adapters):
    first, second = engine.generate(
        [ask(OPEN, SHORT, adapters[0]), ask(OPEN, SHORT, adapters[1])])
    assert first.text != second.text


def test_least_recently_used_adapter_is_evicted_and_reloads_with_the_same_output(
    default_model, adapters
):
    with LocalEngine(default_model, max_loaded_adapters=2) as small:
        params = GenerationParams(max_tokens=4)
        before = small.generate([ask(OPEN, params, adapters[0])])[0].text
        small.generate([ask(OPEN, params, adapters[1])])
        small.generate([ask(OPEN, params, adapters[2])])
        assert small.loaded_adapters == [serving_name(adapters[1]), serving_name(adapters[2])]
        after = small.generate([ask(OPEN, params, adapters[0])])[0].text
        assert small.loaded_adapters == [serving_name(adapters[2]), serving_name(adapters[0])]
    assert after == before


def test_merged_adapter_answers_as_the_unmerged_adapter_in_fp32(default_model, adapters):
    requests = [ask(OPEN, SHORT, adapters[0]), ask(QUESTIONS[0], SHORT, adapters[0]),
                ask(QUESTIONS[4], SHORT, adapters[1])]
    with LocalEngine(default_model, dtype="float32", merge_adapters=False) as unmerged:
        expected = [r.text for r in unmerged.generate(requests)]
    with LocalEngine(default_model, dtype="float32", merge_adapters=True) as merged:
        assert [r.text for r in merged.generate(requests)] == expected


def test_the_generate_path_serves_base_and_merged_adapter_as_the_own_loop_does_in_fp32(
        default_model, adapters):
    # Models the own loop cannot run (sliding windows, prompt learning) use model.generate,
    # batch by batch, with the group's adapter made active (and merged) once around them.
    requests = [ask(OPEN, SHORT), ask(OPEN, SHORT, adapters[0]), ask(QUESTIONS[0], SHORT),
                ask(QUESTIONS[0], SHORT, adapters[0])]
    with LocalEngine(default_model, dtype="float32", batch_size=1) as eng:
        own_loop = [r.text for r in eng.generate(requests)]
        eng._decoder = None
        assert [r.text for r in eng.generate(requests)] == own_loop
    assert own_loop[1] != own_loop[0]  # the adapter applied


def test_serving_a_merged_adapter_gives_the_base_weights_back_bit_for_bit(default_model,
                                                                         adapters):
    # bf16: peft's unmerge (subtracting the delta again) would not round-trip here.
    def base_weights(eng):
        return {k: v.clone() for k, v in eng._base.state_dict().items() if "lora_" not in k}

    with LocalEngine(default_model, dtype="bfloat16", merge_adapters=True) as eng:
        base_answer = eng.generate([ask(OPEN, SHORT)])[0].text
        eng.generate([ask(QUESTIONS[0], SHORT, adapters[0])])  # loads it (wraps the base)
        before = base_weights(eng)
        tuned = eng.generate([ask(OPEN, SHORT, adapters[0])])[0].text
        after = base_weights(eng)
        assert tuned != base_answer  # the merged adapter applied
        assert [k for k in before if not torch.equal(before[k], after[k])] == []
        assert eng.generate([ask(OPEN, SHORT)])[0].text == base_answer


def test_missing_adapter_folder_raises_model_error_naming_the_path(engine, tmp_path):
    missing = tmp_path / "no-such-adapter"
    ghost = AdapterRef(name="ghost", path=str(missing), content_hash="0" * 64)
    with pytest.raises(ModelError, match=str(missing)):
        engine.generate([ask(QUESTIONS[0]), ask(QUESTIONS[0], adapter=ghost)])


def test_a_request_beyond_the_context_is_an_error_for_that_example_only(engine):
    calls = []
    too_long = GenerationParams(max_tokens=10_000)  # SmolLM2's context is 8192 tokens
    fine, refused = engine.generate([ask(QUESTIONS[0]), ask(QUESTIONS[1], too_long)],
                                    progress=lambda i, r: calls.append(i))
    assert not fine.failed and fine.text
    assert refused.failed and "context of 8192" in refused.error
    assert sorted(calls) == [0, 1]
