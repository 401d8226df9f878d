"""Starting `clusterdash mcp` as an MCP client does: a subprocess spoken to over stdio."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import ClientSession
from mcp.client.session import ElicitationFnT
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO = Path(__file__).resolve().parents[1]
# One collection cycle only: every answer then comes from the same snapshot.
ONE_CYCLE = {"CLUSTERDASH_GPU_INTERVAL": "1h", "CLUSTERDASH_SLURM_INTERVAL": "1h"}


def server_parameters(
    args: Sequence[str], env: dict[str, str] | None = None
) -> StdioServerParameters:
    """`clusterdash mcp ARGS` with this test's isolated XDG folders and CLUSTERDASH_* variables."""
    passed = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("XDG_", "CLUSTERDASH_", "SLURM_", "LC_")) or key in ("PATH", "HOME")
    }
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "tui.cli", "mcp", *args],
        env=passed | (env or {}),
        cwd=REPO,
    )


@asynccontextmanager
async def mcp_session(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    elicitation: ElicitationFnT | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialized client session (handshake protocol revision) to a fresh server."""
    async with (
        stdio_client(server_parameters(args, env)) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation) as session,
    ):
        await session.initialize()
        yield session


def payload(result: types.CallToolResult) -> Any:
    """A tool's answer: the JSON it sent as text (or the text itself)."""
    [block] = result.content
    assert isinstance(block, types.TextContent)
    try:
        return json.loads(block.text)
    except ValueError:
        return block.text


def text_of(result: types.CallToolResult) -> str:
    [block] = result.content
    assert isinstance(block, types.TextContent)
    return block.text
