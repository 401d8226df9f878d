"""The model endpoint: any OpenAI-compatible server (vLLM on the head node by default)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from tui.agent.raw_stream import ModelStreamError, stream_chat_deltas
from tui.model import SourceHealth
from tui.text import one_line

DEFAULT_BASE_URL = "http://localhost:8000/v1"
DEFAULT_MODEL = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
BASE_URL_ENV = "CLUSTERDASH_AGENT_BASE_URL"
API_KEY_ENVS = ("CLUSTERDASH_AGENT_API_KEY", "OPENAI_API_KEY")
HEALTH_NAME = "agent"
HEALTH_TIMEOUT_S = 5.0
# vLLM without --api-key accepts any key; the openai client insists on one.
NO_KEY = "none"

HOW_TO_CONFIGURE = (
    "no model endpoint: set [agent] base_url (and model) in config.toml or "
    f"{BASE_URL_ENV}; an API key, if needed, comes from {API_KEY_ENVS[0]} or {API_KEY_ENVS[1]}"
)


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    # Only ever read from the environment; never shown.
    api_key: str | None = field(default=None, repr=False)
    # Longest wait for the next bytes of a reply (a stalled stream fails after this).
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    # False when nothing named an endpoint and the default is only a guess.
    configured: bool = True

    @classmethod
    def from_config(
        cls,
        base_url: str = "",
        model: str = "",
        timeout_s: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        """From `[agent]` settings plus the environment (which alone may hold the API key)."""
        environ = os.environ if environ is None else environ
        url = (base_url or environ.get(BASE_URL_ENV, "")).strip()
        api_key = next((environ[k] for k in API_KEY_ENVS if environ.get(k)), None)
        return cls(
            base_url=(url or DEFAULT_BASE_URL).rstrip("/"),
            model=model.strip() or DEFAULT_MODEL,
            api_key=api_key,
            timeout_s=timeout_s,
            configured=bool(url),
        )


def _http_error_types() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeouts and transport errors of httpx and of httpx2, which newer openai builds use."""
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    errors: list[type[Exception]] = [httpx.HTTPError]
    try:
        import httpx2
    except ImportError:
        pass
    else:
        timeouts.append(httpx2.TimeoutException)
        errors.append(httpx2.HTTPError)
    return tuple(timeouts), tuple(errors)


# Raised while reading a stream, below the openai client's own error types.
HTTP_TIMEOUTS, HTTP_ERRORS = _http_error_types()


def make_openai(settings: ClientSettings) -> AsyncOpenAI:
    timeout = openai.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    return AsyncOpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key or NO_KEY,
        timeout=timeout,
        max_retries=settings.max_retries,
    )


def describe_error(error: BaseException, settings: ClientSettings) -> str:
    """A model-server failure as one line an operator can act on (never the API key)."""
    where = settings.base_url
    if isinstance(error, (openai.APITimeoutError, *HTTP_TIMEOUTS)):
        return f"model server at {where} timed out (no data for {settings.timeout_s:g} s)"
    if isinstance(error, (openai.APIConnectionError, *HTTP_ERRORS)):
        cause = error.__cause__ or error
        return f"cannot reach model server at {where}: {one_line(cause, 160)}"
    if isinstance(error, ModelStreamError):
        return str(error)
    if isinstance(error, openai.APIStatusError):
        detail = _status_detail(error)
        return one_line(f"model server at {where} answered HTTP {error.status_code}: {detail}")
    return one_line(f"model request failed: {one_line(error)}")


def _status_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body
        if isinstance(message, dict):
            message = message.get("message", message)
        return one_line(str(message), 200)
    return one_line(error.message or "no detail", 200)


class AgentClient:
    """One AsyncOpenAI client plus its settings; health for the status bar."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.openai = make_openai(settings)

    @property
    def model(self) -> str:
        return self.settings.model

    def stream_deltas(
        self, messages: list[dict[str, Any]], **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream a chat completion, yielding each chunk's first-choice delta as a dict."""
        return stream_chat_deltas(self.openai, self.settings, messages, params)

    async def health(self) -> SourceHealth:
        """GET /models: online with the model name, or offline with a one-line reason."""
        started = time.time()
        try:
            page = await self.openai.with_options(
                timeout=HEALTH_TIMEOUT_S, max_retries=0
            ).models.list()
        except (openai.OpenAIError, *HTTP_ERRORS) as error:
            return SourceHealth(
                name=HEALTH_NAME,
                ok=False,
                last_attempt=started,
                consecutive_failures=1,
                last_error=describe_error(error, self.settings),
            )
        served = [model.id for model in page.data]
        latency = time.time() - started
        if self.model not in served:
            available = ", ".join(served[:3]) or "none"
            return SourceHealth(
                name=HEALTH_NAME,
                ok=False,
                last_attempt=started,
                latency_s=latency,
                consecutive_failures=1,
                last_error=f"model {self.model} not served (available: {available})",
            )
        return SourceHealth(
            name=HEALTH_NAME,
            ok=True,
            last_success=started,
            last_attempt=started,
            latency_s=latency,
            detail=self.model,
        )

    async def aclose(self) -> None:
        await self.openai.close()


async def check_health(settings: ClientSettings) -> SourceHealth:
    """The agent endpoint's health with a short-lived client (for the collector/status bar)."""
    client = AgentClient(settings)
    try:
        return await client.health()
    finally:
        await client.aclose()
