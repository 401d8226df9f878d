"""The one hand-written path to the model: a chat completion streamed as raw SSE deltas.

It leans on two details of the openai client (`messages=[]` with the real messages in
`extra_body`, and `with_streaming_response` for the raw lines), so it stays in this module
and nowhere else. The figure that keeps it: the client's typed-parameter transform walks
every message and tool schema (~20 ms per request at 12 steps), and its typed chunk models
cost ~100 us per chunk (50 ms for a 500-token answer) against ~3 us for json.loads;
`make bench` reports the loop's own cost as agent_loop_overhead_ms. The JSON sent and read
is the same as through the typed path.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from openai import AsyncOpenAI

from tui.text import one_line

if TYPE_CHECKING:
    from tui.agent.client import ClientSettings


class ModelStreamError(Exception):
    """The model server broke off or garbled a stream; str() is one line."""


async def stream_chat_deltas(
    client: AsyncOpenAI,
    settings: ClientSettings,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> AsyncIterator[dict[str, Any]]:
    """Each chunk's first-choice delta as a dict; the openai client still sends the request
    (timeouts, retries, auth, status errors)."""
    async with client.chat.completions.with_streaming_response.create(
        model=settings.model, messages=[], stream=True, extra_body={"messages": messages, **params}
    ) as response:
        done = False
        # Keep-alive comments reset the read timeout, not this one: the stream must carry
        # data at least every timeout_s.
        last_data = time.monotonic()
        async for line in response.iter_lines():
            # After [DONE], read on to the end so the connection can be kept alive.
            if done:
                continue
            if not line.startswith("data:"):
                if time.monotonic() - last_data > settings.timeout_s:
                    raise ModelStreamError(
                        f"model server at {settings.base_url} timed out (no data for "
                        f"{settings.timeout_s:g} s, only keep-alive comments)"
                    )
                continue
            last_data = time.monotonic()
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                raise ModelStreamError(
                    f"model server sent a malformed chunk: {one_line(data, 80)}"
                ) from None
            if not isinstance(payload, dict):
                continue
            if payload.get("error"):
                error = payload["error"]
                message = error.get("message", error) if isinstance(error, dict) else error
                raise ModelStreamError(one_line(f"model server error: {message}"))
            for choice in payload.get("choices") or ():
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    yield choice.get("delta") or {}
