"""Security: YAML is loaded safely, names cannot escape their folders or inject into a server's
requests, API keys live only in environment variables, servers bind to loopback."""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from harness.adapters_io import serving_name
from harness.cli.main import cli
from harness.engines.openai import GenerationAborted, OpenAICompatEngine
from harness.errors import ConfigError
from harness.spec.train import TrainConfig
from harness.types import AdapterRef, GenerationParams, Request
from tests.fake_openai_server import FakeOpenAIServer


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    suite = tmp_path / "suite.yaml"
    suite.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
                     "golden_sets: [{path: g.jsonl}]\narms: [{name: p, kind: prompt}]\n"
                     "scorers: [exact_match]\n")
    result = CliRunner().invoke(cli, ["validate", str(suite)])
    assert result.exit_code == 2
    assert "YAML" in result.output and "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", ".hidden", "x y"])
def test_an_adapter_name_cannot_leave_the_adapter_store(name):
    with pytest.raises(ValueError, match="name"):
        TrainConfig(name=name, data="d.jsonl")


def test_serving_names_come_from_content_alone_so_they_cannot_inject(tmp_path):
    hostile = AdapterRef(name='x"; DROP TABLE --', path=str(tmp_path / "a b/../c"),
                         content_hash="0123456789abcdef" * 4)
    assert re.fullmatch(r"lora-[0-9a-f]{12}", serving_name(hostile))


def test_a_server_that_echoes_the_api_key_never_gets_it_into_an_error():
    with FakeOpenAIServer(api_key="sk-secret-42") as server:
        server.fail_next(5, ("status", 401, {}, {"error": {
            "message": "Incorrect API key provided: sk-secret-42"}}))
        engine = OpenAICompatEngine(url=server.url, model="fake-model", identity={},
                                    api_key="sk-secret-42", retries=0)
        engine.start()
        with pytest.raises(GenerationAborted) as caught:
            engine.generate([Request(({"role": "user", "content": "hi"},),
                                     GenerationParams(max_tokens=4))])
    assert "refused the API key" in str(caught.value)
    assert "sk-secret-42" not in str(caught.value) and "***" in str(caught.value)


def test_the_key_is_configuration_by_name_only(monkeypatch):
    from harness.engines.openai import api_key_from_env

    monkeypatch.setenv("MY_KEY", "sk-value")
    assert api_key_from_env("MY_KEY") == "sk-value"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ConfigError) as caught:
        api_key_from_env("MY_KEY")
    assert "MY_KEY is not set" in caught.value.message


def test_test_servers_and_managed_servers_bind_to_loopback():
    from harness.engines import vllm

    assert vllm.HOST == "127.0.0.1"
    with FakeOpenAIServer() as server:
        assert server.url.startswith("http://127.0.0.1:")


def test_the_docs_say_plainly_that_a_suite_can_run_code():
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    assert "a suite can run code" in readme.lower()


def test_safe_dump_round_trip_of_the_schema_holds_no_python_objects():
    from harness.spec.suite import suite_json_schema

    text = yaml.safe_dump(suite_json_schema())
    assert "!!python" not in text
