"""A second emulator process of our own, for tests that crash, corrupt or restart one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from image_mlops_dev.stack.identities import BOOTSTRAP_SECRET, LOCAL_ACCESS_KEY_ID
from image_mlops_dev.stack.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def emulator_command(port: int, journal: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "image_mlops_dev.emulator",
        "--port",
        str(port),
        "--journal",
        str(journal),
    ]


def emulator_environment() -> dict[str, str]:
    """The session's environment with its bootstrap key, importable sources on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOTO_", "AWS_CONTAINER_"))}
    paths = [str(ROOT / "plugins"), str(ROOT / "dev"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["AWS_ACCESS_KEY_ID"] = LOCAL_ACCESS_KEY_ID
    env["AWS_SECRET_ACCESS_KEY"] = os.environ[BOOTSTRAP_SECRET]
    return env


class PrivateEmulator:
    """A second emulator process of our own, on a free port, with its own journal."""

    def __init__(self, journal: Path, log: Path) -> None:
        self.journal = journal
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        env = emulator_environment()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                emulator_command(self.port, self.journal),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"emulator died: {self.log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{self.plain_url}/_emulator/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"emulator not ready: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        """Its CA (made on its first start, beside its journal)."""
        return self.journal.parent / "tls" / "ca.pem"

    def crash(self) -> None:
        """SIGKILL: no clean shutdown, no chance to flush anything more."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            verify=str(self.ca),
            # the session's bootstrap key, which this emulator (started with it) knows
            aws_access_key_id=LOCAL_ACCESS_KEY_ID,
            aws_secret_access_key=os.environ[BOOTSTRAP_SECRET],
            config=Config(retries={"max_attempts": 1}),
        )
