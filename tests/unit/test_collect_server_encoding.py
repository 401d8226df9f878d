"""The collector encodes each snapshot for viewers once, right after it publishes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui.collect_client import RemoteCollector
from tui.collect_server import CollectServer
from tui.config import load_settings
from tui.mode import Mode
from tui.services import build_services


async def test_a_viewer_attaching_after_a_publish_is_sent_the_line_already_encoded(
    tmp_path: Path,
) -> None:
    settings = load_settings(environ={"CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3")})
    services = await build_services(settings, Mode.DEMO)
    server = CollectServer(services, tmp_path / "collect.sock")
    await server.start()
    try:
        snapshot = await services.collector.collect_once()
        await asyncio.sleep(0)  # the publish's own turn of the loop ends
        encoded = server._latest
        assert encoded.snapshot is snapshot
        line = encoded._wire
        assert line is not None, "no viewer has asked, and the line is ready"

        viewer = RemoteCollector(tmp_path / "collect.sock", snapshot.cluster_name, demo=True)
        seen = await viewer.current()
        assert encoded._wire is line  # sent as it was encoded, not encoded again
        assert [n.name for n in seen.nodes] == [n.name for n in snapshot.nodes]
        assert seen.gpus == snapshot.gpus
    finally:
        await server.aclose()
        await services.aclose()
