"""Progress display for long work: the stage, what it is doing, and elapsed time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self.stages: list[tuple[str, str, float]] = []
        self._status_len = 0

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _clear_status(self) -> None:
        if self.tty and self._status_len:
            self.stream.write("\r" + " " * self._status_len + "\r")
            self._status_len = 0

    def line(self, message: str) -> None:
        self._clear_status()
        self.stream.write(f"[{self.elapsed()}] {message}\n")
        self.stream.flush()

    def status(self, message: str) -> None:
        """A transient status line (rewritten in place on a terminal, silent in logs)."""
        if not self.tty:
            return
        text = f"[{self.elapsed()}]   … {message}"[:120]
        self._clear_status()
        self.stream.write(text)
        self.stream.flush()
        self._status_len = len(text)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        self.line(f"▶ {name}")
        try:
            yield
        except BaseException:
            self.stages.append((name, "failed", time.monotonic() - started))
            self.line(f"✗ {name} failed after {time.monotonic() - started:.0f} s")
            raise
        self.stages.append((name, "ok", time.monotonic() - started))
        self.line(f"✓ {name} ({time.monotonic() - started:.0f} s)")
