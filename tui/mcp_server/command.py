"""`clusterdash mcp`: serve the cluster's tools on stdin/stdout until the client hangs up."""

from __future__ import annotations

import importlib.metadata
import sys

from tui.agent.tool_context import ToolContext
from tui.config import Settings
from tui.exit_codes import EXIT_OK, EXIT_USAGE
from tui.gc_tuning import calm_gc
from tui.mcp_server.reader import open_cluster_reader
from tui.mode import Mode

MISSING_EXTRA = (
    "clusterdash: clusterdash mcp needs the MCP SDK; install the extra: "
    "pip install 'clusterdash[mcp]'"
)


def sdk_missing() -> bool:
    try:
        import mcp.server.lowlevel  # noqa: F401
    except ImportError:
        return True
    return False


async def serve_stdio(settings: Settings, mode: Mode, allow_actions: bool) -> int:
    """Collect the cluster (simulated or real, see tui/mode.py) and answer one client on stdio."""
    if sdk_missing():
        print(MISSING_EXTRA, file=sys.stderr)
        return EXIT_USAGE
    from mcp.server.stdio import stdio_server

    from tui.mcp_server.server import ClusterMcp

    reader = await open_cluster_reader(settings, mode)
    restore_gc = calm_gc()  # the start-up objects exist: see tui/gc_tuning
    try:
        context = ToolContext.from_settings(
            settings, reader.latest, reader.history, reader.alerts, readonly=not allow_actions
        )
        server = ClusterMcp(context, reader, allow_actions).server(_version())
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await reader.aclose()
        restore_gc()
    return EXIT_OK


def _version() -> str:
    try:
        return importlib.metadata.version("clusterdash")
    except importlib.metadata.PackageNotFoundError:
        return ""
