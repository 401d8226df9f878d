"""A job's stdout and stderr, at the paths Slurm reports, followed as they grow."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Log, Static

from tui.app.screens.closing import close_screen
from tui.app.widgets.key_footer import KeyFooter
from tui.job_output import OutputFollower, expand_output_path
from tui.model import Job

POLL_S = 1.0
MAX_LINES = 2000


class JobOutputScreen(Screen[None]):
    DEFAULT_CSS = """
    JobOutputScreen .output-title { height: 1; background: $boost; }
    JobOutputScreen .output-status { height: 1; color: $warning; }
    JobOutputScreen Log { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Back")]

    def __init__(self, job: Job, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.job = job
        self.poll_s = poll_s
        streams: list[tuple[str, str]] = []
        if job.stdout:
            streams.append(("stdout", expand_output_path(job.stdout, job)))
        stderr = expand_output_path(job.stderr, job) if job.stderr else ""
        if stderr and (not streams or stderr != streams[0][1]):
            streams.append(("stderr", stderr))
        self.streams = streams
        self.followers = [OutputFollower(path) for _, path in streams]
        self._polling = False

    def compose(self) -> ComposeResult:
        title = Text(f" Output of job {self.job.job_id} ", style="bold reverse")
        title.append(f"  {self.job.name}  {self.job.user}  {self.job.state.value}")
        yield Static(title, classes="output-title")
        if not self.streams:
            yield Static(
                f"Slurm reports no output file for job {self.job.job_id}",
                classes="output-status",
                markup=False,
            )
        for n, (name, path) in enumerate(self.streams):
            both = name == "stdout" and len(self.streams) == 1 and bool(self.job.stderr)
            label = f"{'stdout and stderr' if both else name}: {path}"
            yield Static(Text(label, style="bold"), classes="output-title")
            yield Static("", id=f"output-status-{n}", classes="output-status", markup=False)
            yield Log(max_lines=MAX_LINES, id=f"output-{n}")
        yield KeyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        if self.followers:
            self._poll()
            self.set_interval(self.poll_s, self._poll)

    @work(group="job-output")
    async def _poll(self) -> None:
        if self._polling:
            return  # the previous read (a slow file system) has not finished
        self._polling = True
        try:
            for n, follower in enumerate(self.followers):
                lines = await asyncio.to_thread(follower.poll)
                if not self.is_attached:
                    return  # closed while the file was read
                status = self.query_one(f"#output-status-{n}", Static)
                if follower.error is not None:
                    status.update(
                        f"not readable from this machine: {follower.error}"
                        " (Slurm writes it on the job's first node)"
                    )
                    status.display = True
                else:
                    status.display = False
                if lines:
                    self.query_one(f"#output-{n}", Log).write_lines(lines)
        finally:
            self._polling = False

    def action_close(self) -> None:
        close_screen(self)
