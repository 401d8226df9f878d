"""Every key the app answers to, read from the bindings themselves.

The help screen (`?`), docs/keys.md and README's key table are this table. A binding's
description is its footer label; its tooltip, where it has one, says more, and the row
reads "description: tooltip". Keys bound to the same action in one place share a row.
Each context below names where keys apply and whose BINDINGS apply there; `extra` rows
are only for keys that are not bindings (typed text, clicks, a widget's own keys).
`make keys` rewrites README and docs/keys.md; a test fails while they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from textual.binding import Binding
from textual.keys import format_key

from tui.app.screens.alert_detail import AlertDetailScreen
from tui.app.screens.alert_rules import AlertRulesScreen, RuleFormScreen
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.conversations import ConversationsScreen
from tui.app.screens.job_output import JobOutputScreen
from tui.app.screens.jobs import JobDetailScreen, JobsScreen, JobsTable
from tui.app.screens.main import MainScreen, NodesPane
from tui.app.screens.node_detail import NodeDetailScreen
from tui.app.screens.silences import SilenceDialog, SilencesScreen
from tui.app.screens.users import UsersScreen
from tui.app.widgets.alert_feed import AlertFeed
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.nodes_table import NodesTable

# Spelled out rather than Textual's footer symbols (⏎, ↑): the table is read in Markdown too.
KEY_WORDS = frozenset({"enter", "up", "down", "left", "right", "tab"})
README_START = "<!-- keys: generated from the bindings (tui/app/keys.py) by `make keys` -->"
README_END = "<!-- /keys -->"


class KeyRow(NamedTuple):
    where: str
    key: str
    does: str


@dataclass(frozen=True)
class KeyContext:
    where: str
    owners: tuple[type[Any], ...] = ()
    extra: tuple[tuple[str, str], ...] = ()


CONTEXTS: tuple[KeyContext, ...] = (
    KeyContext("main", (MainScreen,)),
    KeyContext(
        "nodes",
        (NodesTable, NodesPane),
        extra=(("click", "Click: a row moves the cursor there; a header sorts by that column"),),
    ),
    KeyContext("jobs", (JobsScreen, JobsTable)),
    KeyContext("job detail", (JobDetailScreen,)),
    KeyContext("job output", (JobOutputScreen,)),
    KeyContext("users", (UsersScreen,)),
    KeyContext("node detail", (NodeDetailScreen,)),
    KeyContext("alerts", (AlertFeed,)),
    KeyContext("alert detail", (AlertDetailScreen,)),
    KeyContext(
        "alert rules",
        (AlertRulesScreen,),
        extra=(
            (": Alerts: rules", "Alert rules: every rule, built-in and custom (from the palette)"),
            ("enter", "Edit: a custom rule (built-ins switch on / off only)"),
        ),
    ),
    KeyContext("rule form", (RuleFormScreen,)),
    KeyContext(
        "silences",
        (SilencesScreen,),
        extra=((": Alerts: silences", "Silences: who, until, comment (from the palette)"),),
    ),
    KeyContext("silence dialog", (SilenceDialog,)),
    KeyContext(
        "--readonly",
        extra=(
            (
                "d r C R H L a x s l space n e",
                "Disabled: each says so in a toast; read-only blocks every change, alert ack,"
                " silences and rules included",
            ),
        ),
    ),
    KeyContext(
        "chat",
        (ChatPane,),
        extra=(
            ("enter", "Ask: the assistant answers; /help lists slash commands"),
            ("shift+enter / ctrl+j", "New line: alt+enter too (some terminals send plain enter)"),
            ("up / down", "History: previous / next sent message (on the first / last line)"),
        ),
    ),
    KeyContext(
        "conversations",
        (ConversationsScreen,),
        extra=(("enter", "Resume: the highlighted conversation"),),
    ),
    KeyContext("dialogs", (ConfirmActionScreen,)),
)


def key_text(key: str) -> str:
    """One key as the table shows it: `ctrl+p`, `?`, `[`, `pgup`, `enter`."""
    *modifiers, name = key.strip().split("+")
    shown = name if name in KEY_WORDS else format_key(name)
    return "+".join([*modifiers, shown])


def binding_text(binding: Binding) -> str:
    return f"{binding.description}: {binding.tooltip}" if binding.tooltip else binding.description


def own_bindings(owner: type[Any]) -> list[Binding]:
    """The bindings a class declares itself (not those Textual or a base class adds)."""
    declared = vars(owner).get("BINDINGS", [])
    return [b if isinstance(b, Binding) else Binding(*b) for b in declared]


def context_rows(where: str, owners: tuple[type[Any], ...]) -> list[KeyRow]:
    """One row per action: keys bound to it in these classes, the first binding's text."""
    keys: dict[str, list[str]] = {}
    text: dict[str, str] = {}
    for owner in owners:
        for binding in own_bindings(owner):
            shown = [binding.key_display] if binding.key_display else binding.key.split(",")
            keys.setdefault(binding.action, []).extend(key_text(k) for k in shown)
            text.setdefault(binding.action, binding_text(binding))
    return [KeyRow(where, " / ".join(keys[action]), text[action]) for action in keys]


def key_rows(app: type[Any]) -> list[KeyRow]:
    """Every key: the app's own bindings first ("anywhere"), then each context's."""
    rows = context_rows("anywhere", (app,))
    rows.append(KeyRow("anywhere", "tab / shift+tab", "Next / previous pane"))
    for context in CONTEXTS:
        rows += [KeyRow(context.where, key, does) for key, does in context.extra]
        rows += context_rows(context.where, context.owners)
    return rows


def owners_listed() -> set[type[Any]]:
    return {owner for context in CONTEXTS for owner in context.owners}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def keys_table(app: type[Any]) -> str:
    lines = ["| Where | Key | Does |", "|---|---|---|"]
    for where, key, does in key_rows(app):
        lines.append(f"| {_cell(where)} | `{_cell(key)}` | {_cell(does)} |")
    return "\n".join(lines) + "\n"


def keys_markdown(app: type[Any]) -> str:
    return "# clusterdash keys\n\n" + keys_table(app)


def with_keys_table(readme: str, app: type[Any]) -> str:
    """The README with its generated key table brought up to date."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README has no {README_START} ... {README_END} section")
    return f"{head}{README_START}\n{keys_table(app)}{README_END}{tail}"
