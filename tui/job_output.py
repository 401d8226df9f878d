"""Follow a job's output file as it grows: the last lines first, then what is appended.

Memory stays bounded: the first read starts TAIL_BYTES before the end, each poll reads at
most READ_BYTES, and the caller keeps only its last lines. A file that shrank (rotated,
rewritten by a requeued job) is read again from its start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tui.job_arrays import split_array_id
from tui.model import Job
from tui.text import one_line

TAIL_BYTES = 256 * 1024
READ_BYTES = 1024 * 1024
# A "line" that never ends (a progress bar redrawn with \r) is shown once it gets this long.
LONGEST_LINE = 64 * 1024


def expand_output_path(path: str, job: Job) -> str:
    """Slurm's filename patterns (`slurm-%j.out`, `%x-%A_%a.log`) with this job's values."""
    split = split_array_id(job.job_id)
    array_id, task = (split[0], str(split[1][0])) if split and len(split[1]) == 1 else ("", "")
    values = {
        "A": array_id or job.job_id,
        "a": task or "4294967294",  # what Slurm writes for "no array task"
        "u": job.user,
        "x": job.name,
        "N": job.nodes[0] if job.nodes else "",
        "%": "%",
    }
    if split is None:  # an array task's own job id (%j) is not the `1234_7` squeue shows
        values["j"] = job.job_id
    out: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == "%" and i + 1 < len(path):
            j = i + 1
            while j < len(path) and path[j].isdigit():  # %4j: zero-padded
                j += 1
            key = path[j] if j < len(path) else ""
            if key in values:
                width = int(path[i + 1 : j] or 0)
                value = values[key]
                out.append(value.zfill(width) if value.isdigit() else value)
                i = j + 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


@dataclass
class OutputFollower:
    """New complete lines of one file since the previous poll; `error` when not readable."""

    path: str
    offset: int | None = None
    error: str | None = None
    _partial: str = field(default="", repr=False)

    def poll(self) -> list[str]:
        """Lines appended since the last poll (blocking file I/O: call it off the UI loop)."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if self.offset is None or size < self.offset:
                    self.offset = max(0, size - TAIL_BYTES) if self.offset is None else 0
                    self._partial = ""
                    skip_first = self.offset > 0
                else:
                    skip_first = False
                handle.seek(self.offset)
                data = handle.read(READ_BYTES)
        except OSError as error:
            self.error = one_line(error.strerror or error)
            return []
        self.error = None
        self.offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(self._partial) > LONGEST_LINE:
            lines.append(self._partial)
            self._partial = ""
        if skip_first and lines:
            lines = lines[1:]  # started mid-line: that line's head is not read
        # A progress bar's \r redraws: what the terminal would show is the last one.
        return [line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines]
