"""Every key the app answers to, in one table: the help screen and docs/keys.md use it."""

from __future__ import annotations

KEY_TABLE: tuple[tuple[str, str, str], ...] = (
    ("anywhere", "?", "this help"),
    (
        "anywhere",
        ": / ctrl+p",
        "command palette: jump to a node or job, run an action, theme, refresh",
    ),
    ("anywhere", "q / ctrl+c", "quit (the terminal is restored)"),
    ("anywhere", "ctrl+r", "refresh now (retry failing sources)"),
    ("anywhere", "tab / shift+tab", "next / previous pane"),
    ("main", "1 2 3 4", "focus nodes, GPUs, alerts, chat (on narrow screens: show that pane)"),
    ("main", "j", "jobs screen"),
    ("main", "u", "users: GPUs held now, utilization, cost and waste per user and account"),
    ("main", "m", "GPU sparkline metric: utilization, memory, temperature, power"),
    ("main", "b", "show / hide the side panes"),
    ("nodes", "up / down, pgup / pgdn, home / end", "move (k, g, G too); a click works as well"),
    ("nodes", "/", "filter: text, regex (gpu-0[1-4]), !text to invert; esc clears"),
    ("nodes", "enter", "node detail (charts, jobs, Slurm record)"),
    ("nodes", "space", "select / unselect a node for a batch action (the cursor moves down)"),
    ("nodes", "s / S", "sort by the next column / reverse (or click a header)"),
    ("nodes", "p", "group by partition"),
    ("nodes", "d", "drain the selected nodes (asks for a reason)"),
    ("nodes", "r", "resume the selected nodes"),
    ("nodes", "esc", "clear the filter, then the selection"),
    ("nodes", "c", "copy the node's name to your own clipboard (OSC 52: works over SSH)"),
    ("jobs", "/", "filter by user, state, partition or any text"),
    ("jobs", "enter", "job detail (nodes, GPU indices, times, pending reason)"),
    ("jobs", "space", "select / unselect a job (the cursor moves down)"),
    (
        "jobs",
        "/ user: account: state: partition: wasting",
        "field filters (user:alice, state:pd,r), wasting: allocated GPUs under 5 %",
    ),
    ("jobs", "e", "expand / fold an array job (a folded array's actions take all its tasks)"),
    ("jobs", "s / S", "sort by the next column / reverse (or click a header)"),
    ("jobs", "c", "copy the job id (an array's id on a folded array) to your own clipboard"),
    ("jobs", "l", "the job's stdout / stderr (Slurm's paths), followed as they grow"),
    ("jobs", "C", "cancel the selected jobs"),
    ("jobs", "R", "requeue"),
    ("jobs", "H / L", "hold / release"),
    ("jobs", "escape", "back"),
    ("job output", "escape", "back"),
    ("users", "s / S", "sort by the next column / reverse (or click a header)"),
    ("users", "enter", "that user's jobs (the jobs screen filtered to them)"),
    ("users", "escape", "back"),
    ("node detail", "1 2 3 4 5", "range 15m, 1h, 6h, 24h, 7d"),
    ("node detail", "[ / ]", "charts show one GPU (previous / next), then all again"),
    ("node detail", "d / r", "drain / resume this node"),
    ("node detail", "escape", "back"),
    ("alerts", "enter", "alert detail (labels, times, ack, silences, history)"),
    ("alerts", "a", "acknowledge the alert"),
    ("alerts", "x", "silence the alert (asks for how long, as in the alert detail)"),
    ("alert detail", "a / s", "acknowledge / silence (rule and/or target, 15m-24h, comment)"),
    ("alert detail", "escape", "back"),
    ("alert rules", ": Alerts: rules", "every rule, built-in and custom (from the palette)"),
    ("alert rules", "space", "switch the rule on / off (built-ins too); saved to the rules file"),
    ("alert rules", "n / e, enter", "new custom rule / edit it (ctrl+s saves the form)"),
    ("silences", ": Alerts: silences", "active silences: who, until, comment"),
    ("silences", "l / delete", "lift the silence"),
    (
        "--readonly",
        "d r C R H L a x s l space n e",
        "disabled: each says so in a toast; read-only blocks every change, alert ack,"
        " silences and rules included",
    ),
    ("chat", "enter", "ask the assistant; /help lists slash commands"),
    ("chat", "shift+enter / ctrl+j", "new line (alt+enter too; some terminals send enter)"),
    ("chat", "up / down", "previous / next sent message (on the first / last line)"),
    ("chat", "escape", "stop the answer; with none running, back to the nodes table"),
    ("chat", "ctrl+o", "conversations: enter resumes, e exports as Markdown, n starts new"),
    ("chat", "ctrl+n", "new conversation"),
    (
        "dialogs",
        "enter / y",
        "confirm, once the dialog has been on screen 0.3 s (keys typed before are ignored);"
        " in the drain dialog y types into the reason",
    ),
    ("dialogs", "escape / n", "cancel (in the drain dialog n types into the reason)"),
)


README_START = "<!-- keys: generated from tui/app/keys.py -->"
README_END = "<!-- /keys -->"


def keys_table() -> str:
    lines = ["| Where | Key | Does |", "|---|---|---|"]
    for where, key, does in KEY_TABLE:
        lines.append(f"| {where} | `{key}` | {does} |")
    return "\n".join(lines) + "\n"


def keys_markdown() -> str:
    return "# clusterdash keys\n\n" + keys_table()


def with_keys_table(readme: str) -> str:
    """The README with its generated key table brought up to date."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README has no {README_START} ... {README_END} section")
    return f"{head}{README_START}\n{keys_table()}{README_END}{tail}"
