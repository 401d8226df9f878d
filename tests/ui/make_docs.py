"""Regenerate docs/keys.md, README's key table and docs/screenshot.svg:
`python -m tests.ui.make_docs`."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from tui.app.keys import keys_markdown, with_keys_table

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


async def screenshot(path: Path) -> None:
    from tui.app.app import ClusterDashApp
    from tui.config import load_settings

    with tempfile.TemporaryDirectory() as scratch:
        # A throw-away history database and UI state: the developer's own stay untouched.
        for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            os.environ[var] = str(Path(scratch) / var.lower())
        app = ClusterDashApp(load_settings(), "demo")
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause(4.0)
            await pilot.press("down", "down")
            await pilot.pause(1.0)
            app.save_screenshot(path.name, str(path.parent))


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "keys.md").write_text(keys_markdown(), encoding="utf-8")
    readme = ROOT / "README.md"
    readme.write_text(with_keys_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    asyncio.run(screenshot(DOCS / "screenshot.svg"))
    sys.stdout.write(f"wrote {DOCS / 'keys.md'} and {DOCS / 'screenshot.svg'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
