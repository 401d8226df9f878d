"""The UI choices that persist between runs (theme, pane layout), as a small JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from loguru import logger

from tui.config import state_dir

STATE_FILE = "ui-state.json"


@dataclass(frozen=True, slots=True)
class UiState:
    theme: str = ""
    # Which side pane is shown when the screen is too narrow for all of them.
    side_pane: str = "gpus"
    gpu_metric: str = "utilization_pct"
    group_by_partition: bool = False
    sort_column: str = "name"
    sort_reverse: bool = False
    show_side: bool = True


def state_path() -> Path:
    return state_dir() / STATE_FILE


def load_ui_state(path: Path | None = None) -> UiState:
    """The saved state, or defaults when missing or unreadable (never an exception)."""
    path = path or state_path()
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UiState()
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable UI state {}: {}", path, error)
        return UiState()
    if not isinstance(raw, dict):
        return UiState()
    state = UiState()
    for item in fields(UiState):
        value = raw.get(item.name)
        if value is not None and isinstance(value, type(getattr(state, item.name))):
            state = replace(state, **{item.name: value})
    return state


def save_ui_state(state: UiState, path: Path | None = None) -> None:
    """Write atomically (temp file + rename); a failure is logged, never raised."""
    path = path or state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True), encoding="utf-8")
        temp.replace(path)
    except OSError as error:
        logger.warning("could not save UI state to {}: {}", path, error)
