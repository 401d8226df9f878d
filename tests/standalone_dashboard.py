"""A dashboard's services without the screen, in its own process, for tests of two writers.

`python -m tests.standalone_dashboard REASON`: builds the services a standalone dashboard
builds (simulated cluster, history from CLUSTERDASH_* environment), prints `writer True` or
`writer False`, records one audit row with REASON as an operator action would, prints
`audited`, saves one chat question as the chat pane would, prints `chatted`, then collects
and alerts until a line arrives on stdin.
"""

from __future__ import annotations

import asyncio
import sys

from tui.agent.history import ChatHistory
from tui.audit_record import AuditRecord
from tui.config import load_settings
from tui.services import build_services


async def main(reason: str) -> None:
    services = await build_services(load_settings(), "demo")
    try:
        print(f"writer {services.writer}", flush=True)
        assert services.store is not None
        await services.store.add_audit(
            AuditRecord(
                user="operator",
                origin="keyboard",
                action="drain",
                targets=("gpu-01",),
                ok=True,
                reason=reason,
            )
        )
        print("audited", flush=True)
        conversation = ChatHistory(services.store).new()
        await conversation.record({"role": "user", "content": f"question from {reason}"})
        print("chatted", flush=True)
        runner = asyncio.create_task(services.run_background())
        await asyncio.to_thread(sys.stdin.readline)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    finally:
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
