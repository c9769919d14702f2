"""The run store and the response cache: atomic lines, torn tails, keys that miss when they must."""

from __future__ import annotations

from dataclasses import replace

from harness.store import JsonlAppender, ResponseCache, load_run, read_jsonl
from harness.types import AdapterRef, GenerationParams, Request, Response

ENGINE = {"kind": "local", "model": "m@1", "dtype": "bfloat16"}
BASE_REQUEST = Request(messages=({"role": "user", "content": "Hi"},),
                       params=GenerationParams(max_tokens=8, seed=0))
ADAPTER = AdapterRef(name="t", path="/a", content_hash="a" * 64)


def test_torn_last_line_is_skipped_and_the_next_append_starts_clean(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = JsonlAppender(path)
    writer.append({"n": 1})
    writer.close()
    with open(path, "a") as f:
        f.write('{"n": 2, "trunc')  # a writer killed mid-line
    assert read_jsonl(path) == [{"n": 1}]
    writer = JsonlAppender(path)
    writer.append({"n": 3})
    writer.close()
    assert read_jsonl(path) == [{"n": 1}, {"n": 3}]


def test_cache_returns_what_was_put_marked_as_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = ResponseCache.key(ENGINE, BASE_REQUEST)
    assert cache.get(key) is None
    cache.put(key, Response(text="Hello", prompt_tokens=3, completion_tokens=2, latency_s=0.5))
    hit = cache.get(key)
    assert hit is not None and hit.text == "Hello" and hit.cached and hit.completion_tokens == 2
    cache.close()
    reopened = ResponseCache(tmp_path / "c.sqlite")
    assert reopened.get(key).text == "Hello"  # persisted on disk


def test_cache_key_is_stable_for_the_same_request():
    same = Request(messages=({"role": "user", "content": "Hi"},),
                   params=GenerationParams(max_tokens=8, seed=0))
    assert ResponseCache.key(ENGINE, BASE_REQUEST) == ResponseCache.key(ENGINE, same)


def test_cache_key_changes_with_everything_that_changes_an_output():
    base = ResponseCache.key(ENGINE, BASE_REQUEST)
    with_adapter = replace(BASE_REQUEST, adapter=ADAPTER)
    variants = {
        "adapter": with_adapter,
        "other adapter weights": replace(BASE_REQUEST, adapter=replace(ADAPTER,
                                                                       content_hash="b" * 64)),
        "seed": replace(BASE_REQUEST, params=GenerationParams(max_tokens=8, seed=1)),
        "max tokens": replace(BASE_REQUEST, params=GenerationParams(max_tokens=9, seed=0)),
        "temperature": replace(BASE_REQUEST, params=GenerationParams(max_tokens=8,
                                                                     temperature=0.7)),
        "message": replace(BASE_REQUEST, messages=({"role": "user", "content": "Hi!"},)),
        "system turn": replace(BASE_REQUEST, messages=({"role": "system", "content": "x"},
                                                       *BASE_REQUEST.messages)),
    }
    keys = {name: ResponseCache.key(ENGINE, r) for name, r in variants.items()}
    for name, key in keys.items():
        assert key != base, f"changing the {name} must miss the cache"
    assert keys["adapter"] != keys["other adapter weights"]
    for field, value in [("model", "m@2"), ("dtype", "float32"), ("kind", "vllm")]:
        assert ResponseCache.key({**ENGINE, field: value}, BASE_REQUEST) != base


def test_adapter_display_name_does_not_change_the_key():
    renamed = replace(ADAPTER, name="other-name", path="/elsewhere")
    assert (ResponseCache.key(ENGINE, replace(BASE_REQUEST, adapter=ADAPTER))
            == ResponseCache.key(ENGINE, replace(BASE_REQUEST, adapter=renamed)))


def test_load_run_names_what_is_missing(tmp_path):
    import pytest

    from harness.errors import RunError

    with pytest.raises(RunError, match="not a run directory"):
        load_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RunError, match=r"examples\.jsonl is missing"):
        load_run(tmp_path)
