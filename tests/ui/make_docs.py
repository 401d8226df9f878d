"""Regenerate docs/keys.md and README's key table from the bindings (`make keys`, or
`python -m tests.ui.make_docs --keys`), and with no flag docs/screenshot.svg too."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from tui.app.app import ClusterDashApp
from tui.app.keys import keys_markdown, with_keys_table

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


async def screenshot(path: Path) -> None:
    from tui.config import load_settings
    from tui.mode import Mode

    with tempfile.TemporaryDirectory() as scratch:
        # A throw-away history database and UI state: the developer's own stay untouched.
        for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            os.environ[var] = str(Path(scratch) / var.lower())
        app = ClusterDashApp(load_settings(), Mode.DEMO)
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause(4.0)
            await pilot.press("down", "down")
            await pilot.pause(1.0)
            app.save_screenshot(path.name, str(path.parent))


def write_keys() -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "keys.md").write_text(keys_markdown(ClusterDashApp), encoding="utf-8")
    readme = ROOT / "README.md"
    text = with_keys_table(readme.read_text(encoding="utf-8"), ClusterDashApp)
    readme.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOCS / 'keys.md'} and the key table in {readme}\n")


def main(argv: list[str]) -> int:
    write_keys()
    if "--keys" not in argv:
        asyncio.run(screenshot(DOCS / "screenshot.svg"))
        sys.stdout.write(f"wrote {DOCS / 'screenshot.svg'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
