"""`clusterdash mcp --allow-actions` against the real private Slurm cluster."""

from __future__ import annotations

import shlex

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

import mcp_types as types
from mcp.client.context import ClientRequestContext

from tests.integration.slurm_cluster import SlurmCluster
from tests.mcp_support import mcp_session, payload
from tui.actions import Action, ActionKind, current_user
from tui.config import load_settings
from tui.mode import store_path_for
from tui.store import Store

pytestmark = pytest.mark.integration


async def test_an_accepted_action_runs_on_slurm_and_is_audited(slurm: SlurmCluster) -> None:
    asked: list[str] = []

    async def accept(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    env = {"SLURM_CONF": slurm.env["SLURM_CONF"], "PATH": slurm.env["PATH"]}
    async with mcp_session(["--allow-actions"], env=env, elicitation=accept) as session:
        listed = payload(await session.call_tool("list_nodes", {}))
        result = await session.call_tool(
            "drain_node", {"node": "gpu-03", "reason": "fan failure on gpu 2"}
        )
        after = payload(await session.call_tool("node_detail", {"name": "gpu-03"}))

    assert [row["name"] for row in listed["nodes"]] == list(slurm.node_names)
    action = Action(ActionKind.DRAIN, ("gpu-03",), "fan failure on gpu 2")
    assert len(asked) == 1 and shlex.join(action.argv()[0]) in asked[0]
    assert not result.is_error and payload(result)["outcome"].startswith("done")
    assert slurm.node_states()["gpu-03"] == "drained"
    assert slurm.node_reason("gpu-03") == "fan failure on gpu 2"
    assert after["state"] == "drained" and after["reason"] == "fan failure on gpu 2"
    store = await Store.open(store_path_for(load_settings(None), "slurm"), readonly=True)
    try:
        [entry] = await store.list_audit()
    finally:
        await store.close()
    assert (entry.user, entry.origin, entry.action, entry.targets, entry.reason, entry.ok) == (
        current_user(),
        "mcp",
        "drain",
        ("gpu-03",),
        "fan failure on gpu 2",
        True,
    )
