"""`image-mlops stack up|down|status` as a user runs them, on a second, private stack.

Idempotent up, a crashed component reported and restarted, down leaves no process behind,
state survives down/up, a busy port gives one actionable line.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from conftest import bootstrap_client_arguments

from image_mlops_dev.stack.processes import free_port

pytestmark = [pytest.mark.stack, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "image_mlops.cli"]


def _clean_env(state: Path, pg: int, emulator: int, airflow: int) -> dict[str, str]:
    from conftest import private_stack_env

    return private_stack_env(state, pg, emulator, airflow)


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*CLI, "stack", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"stack {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _pids(state: Path) -> dict[str, int]:
    pids = {p.stem: int(p.read_text()) for p in (state / "run").glob("*.pid")}
    pg_pid_file = state / "postgres" / "data" / "postmaster.pid"
    if pg_pid_file.exists():
        pids["postgres"] = int(pg_pid_file.read_text().split()[0])
    return pids


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getpgid(int(proc.name)) == pgid:
                    members.append(int(proc.name))
            except ProcessLookupError:
                continue
    return members


@pytest.fixture(scope="module")
def private_stack():
    state = Path(tempfile.mkdtemp(prefix="image-mlops-lifecycle-"))
    env = _clean_env(state, free_port(), free_port(), free_port())
    yield state, env
    _cli(env, "down", check=False)
    shutil.rmtree(state, ignore_errors=True)


def test_up_is_idempotent_and_status_reports_every_component(private_stack):
    state, env = private_stack
    _cli(env, "up")
    first = _pids(state)
    assert {"postgres", "emulator", "api-server", "scheduler", "dag-processor", "triggerer"} <= set(
        first
    )
    _cli(env, "up")
    assert _pids(state) == first, "a second `up` must leave running components alone"
    status = _cli(env, "status")
    assert status.stdout.count("running") == 6, status.stdout


def test_a_crashed_component_is_reported_and_restarted(private_stack):
    state, env = private_stack
    scheduler = _pids(state)["scheduler"]
    os.killpg(scheduler, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{scheduler}").exists():
        time.sleep(0.2)
    status = _cli(env, "status", check=False)
    assert status.returncode == 1
    assert "scheduler" in status.stdout and "DIED" in status.stdout
    assert "make up" in status.stdout
    _cli(env, "up")
    assert _pids(state)["scheduler"] != scheduler
    assert _cli(env, "status").stdout.count("running") == 6


def test_state_survives_down_and_up_and_down_leaves_no_process(private_stack):
    state, env = private_stack
    kwargs = bootstrap_client_arguments(env)
    s3 = boto3.client("s3", **kwargs)
    s3.put_object(Bucket="image-mlops-raw", Key="incoming/kept é.jpg", Body=b"kept bytes")
    cloudwatch = boto3.client("cloudwatch", **kwargs)
    cloudwatch.put_metric_alarm(
        AlarmName="lifecycle-alarm",
        MetricName="M",
        Namespace="N",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )

    before = _pids(state)
    groups = {name: pid for name, pid in before.items() if name != "postgres"}
    members = {pid for pgid in groups.values() for pid in _group_members(pgid)}
    assert members, "the started processes and their children should be visible"
    _cli(env, "down")
    time.sleep(0.5)
    # A zombie is already dead: it only waits for its (re)parent to collect its exit status.
    alive = [pid for pid in members | {before["postgres"]} if _describe(pid)[0] not in "gZ"]
    leftovers = {pid: _describe(pid) for pid in alive}
    assert not alive, f"processes left behind after down: {leftovers}"
    assert not list((state / "run").glob("*.pid"))

    _cli(env, "up", "--no-airflow")
    deployed = _cli(env, "deploy")  # idempotent: the stack is there, nothing changed
    assert "CloudFormation stack image-mlops deployed to the local emulator" in deployed.stdout
    body = s3.get_object(Bucket="image-mlops-raw", Key="incoming/kept é.jpg")["Body"].read()
    assert body == b"kept bytes"
    alarms = cloudwatch.describe_alarms(AlarmNames=["lifecycle-alarm"])["MetricAlarms"]
    assert [a["AlarmName"] for a in alarms] == ["lifecycle-alarm"]
    _cli(env, "down")


def test_a_busy_port_gives_one_actionable_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = _clean_env(tmp_path / "state", free_port(), port, free_port())
        proc = _cli(env, "up", "--no-airflow", check=False)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("image-mlops stack: port ")
    assert f"port {port} for the AWS emulator is taken" in lines[-1]
    assert "IMAGE_MLOPS_EMULATOR_PORT" in lines[-1]
    assert not (tmp_path / "state" / "postgres" / "data").exists(), "nothing started"


def _describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return "gone"
    return f"{state} {cmdline[:120]}"
