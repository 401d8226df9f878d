"""One writer per history database: an advisory lock beside the file, held while writing.

The lock file (`<database>.writer`) holds the writer's pid and role so a process that cannot
take it can say who has it. The kernel drops the lock when the writer exits, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class WriterLock:
    path: Path
    _fd: int | None = None

    @classmethod
    def for_database(cls, database: Path) -> WriterLock:
        database = database.expanduser()
        return cls(database.with_name(database.name + ".writer"))

    def acquire(self, role: str) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {role}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who holds the lock, as "pid N (role)", or "" when unknown."""
        try:
            pid, _, role = self.path.read_text(encoding="utf-8").strip().partition(" ")
        except OSError:
            return ""
        if not pid.isdigit():
            return ""
        return f"pid {pid} ({role})" if role else f"pid {pid}"

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    async def arelease(self) -> None:
        self.release()
