"""A viewer's poll-now after an action names what to re-read; the collector checks the names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.collect_process import Collect
from tui.collect_client import CollectorUnavailable, request


@pytest.fixture
def collect(tmp_path: Path) -> Collect:
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"),
        CLUSTERDASH_SLURM_INTERVAL="1h",
        CLUSTERDASH_GPU_INTERVAL="1h",
    )
    return Collect(env, "--demo", "--nodes", "4")


async def test_named_rereads_answer_and_bad_names_are_refused_in_one_line(
    collect: Collect,
) -> None:
    collect.start()
    try:
        first = await request(collect.socket, {"op": "poll_now", "nodes": ["gpu-02"]})
        again = await request(collect.socket, {"op": "poll_now", "jobs": ["1001", "1002_3"]})
        settled = await request(
            collect.socket, {"op": "poll_now", "nodes": ["gpu-02"], "action": "resume"}
        )
        assert settled["taken_at"] >= again["taken_at"] >= first["taken_at"] > 0
        for bad in (
            {"nodes": ["gpu-02; reboot"]},
            {"jobs": ["12 34"]},
            {"nodes": "gpu-02"},
            {"nodes": ["gpu-02"], "action": "reboot"},
            {"jobs": ["1001"], "action": "drain"},
        ):
            with pytest.raises(CollectorUnavailable) as refused:
                await request(collect.socket, {"op": "poll_now", **bad})
            message = str(refused.value)
            assert "\n" not in message
            assert any(word in message for word in ("invalid", "list of", "unknown", "acts on"))
    finally:
        collect.stop()
