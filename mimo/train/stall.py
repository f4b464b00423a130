"""A stall watchdog for training loops: every thread's stack in the job's log when no step ends in time.

A hung step (a lost event, a deadlock between threads, a collective whose peer died) otherwise
shows nothing until the job's time limit kills it. :class:`StallWatchdog` arms
:func:`faulthandler.dump_traceback_later` at each :meth:`~StallWatchdog.beat` (one per step); if the
next beat does not come within ``stall_s``, the stacks of all threads go to stderr (the job's log),
and again every ``stall_s`` while the stall lasts. It costs nothing while steps end in time.
"""

from __future__ import annotations

import faulthandler
import sys
from typing import IO, Self


class StallWatchdog:
    """Dump every thread's stack to ``file`` when ``beat()`` is not called for ``stall_s`` seconds."""

    def __init__(self, stall_s: float | None, file: IO[str] | None = None) -> None:
        self.stall_s = stall_s if stall_s and stall_s > 0 else None
        self.file = file if file is not None else _with_fileno(sys.stderr)

    def beat(self) -> None:
        """A step ended: restart the countdown."""
        if self.stall_s is None:
            return
        faulthandler.cancel_dump_traceback_later()
        faulthandler.dump_traceback_later(self.stall_s, repeat=True, file=self.file)

    def stop(self) -> None:
        """Disarm (the loop ended)."""
        if self.stall_s is not None:
            faulthandler.cancel_dump_traceback_later()

    def __enter__(self) -> Self:
        self.beat()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _with_fileno(stream: IO[str]) -> IO[str]:
    """``stream`` when it is backed by a file descriptor (faulthandler writes to one), else the
    process's original stderr (e.g. under pytest's capture)."""
    try:
        stream.fileno()
        return stream
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
