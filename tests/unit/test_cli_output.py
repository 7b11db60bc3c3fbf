"""The CLI's output is its own lines; the libraries' log lines go to the log file (or -v)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from image_mlops.cli import LOG_FILE_NAME
from image_mlops.config import get_settings

ROOT = Path(__file__).resolve().parents[2]
#: what Airflow's configuration logs each time a command loads it (a library's INFO line)
LIBRARY_LINE = "airflow.configuration: Reading the config from"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "image_mlops.cli", *args],
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_library_log_lines_go_to_the_log_file_not_the_terminal():
    log_file = get_settings().state_dir / "logs" / LOG_FILE_NAME
    before = log_file.read_text() if log_file.exists() else ""
    proc = _cli("stack", "env")  # loads Airflow's configuration
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith("export ") for line in lines)
    written = log_file.read_text()[len(before) :]
    assert LIBRARY_LINE in written
    assert "\x1b[" not in written  # plain text, no terminal colours


def test_verbose_puts_every_log_line_on_stderr():
    proc = _cli("-v", "stack", "env")
    assert proc.returncode == 0
    assert LIBRARY_LINE in proc.stdout + proc.stderr
    assert "DEBUG " in proc.stderr
