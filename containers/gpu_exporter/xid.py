"""Watch NVML's critical XID events in a background thread and remember the last XID per GPU."""

from __future__ import annotations

import threading
from typing import Any

from loguru import logger

from .nvml_reader import Nvml, NvmlReader

WAIT_MS = 500


class XidWatcher:
    """Last XID seen on each GPU index (0 when none), fed by nvmlEventSetWait in a thread."""

    def __init__(self, reader: NvmlReader, wait_ms: int = WAIT_MS) -> None:
        self._reader = reader
        self._nvml: Nvml = reader.nvml
        self._wait_ms = wait_ms
        self._last: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def last_xid(self, index: int) -> int:
        with self._lock:
            return self._last.get(index, 0)

    def start(self) -> None:
        """Register for XID events and start the thread; returns once registered."""
        self._thread = threading.Thread(target=self._run, name="xid-watcher", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _register(self) -> Any | None:
        nvml = self._nvml
        try:
            event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as error:
            logger.warning("XID events unavailable: {}", error)
            return None
        for index, handle in self._reader.handles().items():
            try:
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, event_set)
            except nvml.NVMLError as error:
                logger.warning("GPU {}: XID events not watched: {}", index, error)
        return event_set

    def _run(self) -> None:
        nvml = self._nvml
        try:
            event_set = self._register()
        finally:
            self._ready.set()
        if event_set is None:
            return
        wait = getattr(nvml, "nvmlEventSetWait_v2", None) or nvml.nvmlEventSetWait
        try:
            while not self._stop.is_set():
                try:
                    data = wait(event_set, self._wait_ms)
                except nvml.NVMLError as error:
                    if getattr(error, "value", None) != nvml.NVML_ERROR_TIMEOUT:
                        logger.warning("XID event wait failed: {}", error)
                        self._stop.wait(self._wait_ms / 1000)
                    continue
                self._record(data)
        finally:
            try:
                nvml.nvmlEventSetFree(event_set)
            except nvml.NVMLError as error:
                logger.debug("XID event set not freed: {}", error)

    def _record(self, data: Any) -> None:
        nvml = self._nvml
        if data.eventType != nvml.nvmlEventTypeXidCriticalError:
            return
        try:
            index = int(nvml.nvmlDeviceGetIndex(data.device))
        except nvml.NVMLError as error:
            logger.warning("XID {} on an unidentifiable GPU: {}", data.eventData, error)
            return
        xid = int(data.eventData)
        logger.error("GPU {}: XID {}", index, xid)
        with self._lock:
            self._last[index] = xid
