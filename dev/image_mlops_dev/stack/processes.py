"""Detached processes with recorded PIDs: start, check, stop only what we started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A one-line, actionable problem with the local stack."""


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    command: list[str]
    run_dir: Path
    log_dir: Path
    #: a token that must appear in the process's command line, so a recycled PID is never
    #: mistaken for ours
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """PID of our running process, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_ours(pid, self.marker) else None

    def died(self) -> bool:
        """Started by us, not stopped by us, and gone."""
        return self.pid_file.exists() and self.pid() is None

    def start(self, env: dict[str, str], cwd: Path) -> int:
        running = self.pid()
        if running:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we stop it and its children
            )
        self.pid_file.write_text(str(proc.pid))
        # Until the child has exec'd, its /proc cmdline is still ours (the parent's), and
        # pid() would take it for a stranger; wait for the exec (or an early exit).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if _is_ours(proc.pid, self.marker):
                break
            time.sleep(0.02)
        return proc.pid

    def stop(self, timeout: float = 20) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
        # Children that outlived their leader (e.g. executor workers) still share the group.
        _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _is_ours(pid: int, marker: str) -> bool:
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True  # no /proc (macOS): trust the PID file
    return marker in cmdline


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float, what: str, process: ManagedProcess | None = None) -> None:
    """Poll ``check()`` until true; fail with the process's last log lines if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.pid() is None:
            raise StackError(
                f"{process.name} died while starting; last lines of {process.log_file}:\n"
                f"{process.log_tail()}"
            )
        time.sleep(0.3)
    raise StackError(
        f"{what} not ready after {timeout:.0f} s; see {process.log_file if process else 'logs'}"
    )
