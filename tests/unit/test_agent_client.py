"""Endpoint settings (the API key only from the environment) and the `ask` CLI's exits."""

from __future__ import annotations

import io

from tests.agent_cluster import NOW, sample_snapshot
from tests.agent_server import ScriptedServer, text_reply
from tests.ports import free_port
from tui.agent.cli_ask import ask_main
from tui.agent.client import DEFAULT_BASE_URL, ClientSettings, check_health
from tui.agent.setup import client_settings
from tui.agent.tool_context import ToolContext
from tui.config import load_settings


def test_settings_come_from_config_and_the_key_only_from_env() -> None:
    env = {"CLUSTERDASH_AGENT_API_KEY": "sk-secret", "OPENAI_API_KEY": "other"}
    settings = ClientSettings.from_config("http://head:8000/v1/", "m", environ=env)
    assert settings.base_url == "http://head:8000/v1" and settings.model == "m"
    assert settings.api_key == "sk-secret" and "sk-secret" not in repr(settings)
    assert settings.configured
    fallback = ClientSettings.from_config(environ={"OPENAI_API_KEY": "k2"})
    assert fallback.api_key == "k2" and fallback.base_url == DEFAULT_BASE_URL
    assert not fallback.configured
    from_env = ClientSettings.from_config(environ={"CLUSTERDASH_AGENT_BASE_URL": "http://x:1/v1"})
    assert from_env.base_url == "http://x:1/v1" and from_env.api_key is None


def test_settings_from_the_config_file_and_environment() -> None:
    env = {"CLUSTERDASH_AGENT_BASE_URL": "http://head:8000/v1", "CLUSTERDASH_AGENT_MAX_STEPS": "5"}
    settings = load_settings(environ=env)
    built = client_settings(settings, environ=env)
    assert built.base_url == "http://head:8000/v1" and built.configured
    assert settings.agent.max_steps == 5


async def test_check_health_names_the_model() -> None:
    with ScriptedServer([]) as server:
        health = await check_health(ClientSettings(base_url=server.base_url, model=server.model))
    assert health.ok and health.name == "agent" and health.detail == server.model


async def test_ask_without_a_configured_model_says_so_on_stderr_and_exits_2() -> None:
    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW)
    with ScriptedServer([text_reply("should not be asked")]) as server:
        settings = ClientSettings(base_url=server.base_url, max_retries=0, configured=False)
        out, err = io.StringIO(), io.StringIO()
        assert await ask_main("why is job 42 pending?", context, settings, out, err=err) == 2
        assert server.requests == []
    assert out.getvalue() == ""
    assert err.getvalue().count("\n") == 1
    assert "agent.base_url" in err.getvalue() and "CLUSTERDASH_AGENT_BASE_URL" in err.getvalue()
    err = io.StringIO()
    assert await ask_main("  ", context, settings, io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("clusterdash: no question given")


async def test_ask_with_an_unreachable_model_reports_on_stderr() -> None:
    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW)
    settings = ClientSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    out, err = io.StringIO(), io.StringIO()
    assert await ask_main("why is job 42 pending?", context, settings, out, err=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("clusterdash: cannot reach model server at http://127.0.0.1:")
    assert err.getvalue().count("\n") == 1


async def test_ask_streams_the_answer_to_stdout() -> None:
    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW)
    with ScriptedServer([text_reply("Job 42 ", "waits.")]) as server:
        out = io.StringIO()
        settings = ClientSettings(base_url=server.base_url, model=server.model)
        assert await ask_main("why?", context, settings, out) == 0
    assert out.getvalue() == "Job 42 waits.\n"
