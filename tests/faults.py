"""The fault suite's remote control of the emulator's fault rules (``emulator.http.faults``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from image_mlops_dev.emulator.http.faults import PATH
from image_mlops_dev.stack.identities import emulator_call

ROOT = Path(__file__).resolve().parents[1]


def _call(
    emulator_url: str,
    method: str,
    payload: dict | None = None,
    credentials: tuple[str, str, Path] | None = None,
) -> dict:
    """A call with the bootstrap key (``credentials``: another stack's key and CA, as
    ``(key, secret, ca.pem)``; default this session's)."""
    key, ca = (credentials[:2], credentials[2]) if credentials else (None, None)
    return emulator_call(
        PATH, method=method, payload=payload, url=emulator_url, credentials=key, ca=ca
    )


def add(emulator_url: str, credentials: tuple[str, str, Path] | None = None, **rule) -> dict:
    """Add a rule: ``action`` (hang|error|crash), ``method``, ``bucket``, ``key_prefix``,
    ``nth``, ``times``."""
    return _call(emulator_url, "POST", rule, credentials)


def clear(emulator_url: str, credentials: tuple[str, str, Path] | None = None) -> None:
    """Remove every rule; hung requests are released (and fail with 503 SlowDown)."""
    _call(emulator_url, "DELETE", credentials=credentials)


def wait_fired(
    emulator_url: str,
    timeout: float = 60,
    process=None,
    credentials: tuple[str, str, Path] | None = None,
) -> dict:
    """Wait until a rule has fired (a request is hanging or failed); returns the rule."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rules = _call(emulator_url, "GET", credentials=credentials)["rules"]
        fired = [r for r in rules if r["fired"]]
        if fired:
            return fired[0]
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before the fault")
        time.sleep(0.05)
    raise AssertionError("no fault rule fired in time")


def python(code: str, env: dict | None = None) -> subprocess.Popen:
    """Run ``code`` in a fresh interpreter with the package importable (a task process)."""
    environ = {**os.environ, **(env or {})}
    paths = [str(ROOT / "plugins"), str(ROOT / "dev"), environ.get("PYTHONPATH", "")]
    environ["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=environ,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def sigkill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL
