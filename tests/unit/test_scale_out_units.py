"""The scale-out profile's parts that need no running stack: settings, environments, config."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from image_mlops.config import Settings, SettingsError
from image_mlops_dev.stack import scale_out
from image_mlops_dev.stack.manager import LocalStack, Topology
from image_mlops_dev.stack.processes import StackError
from image_mlops_dev.stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("IMAGE_MLOPS_STACK_EXECUTOR", "kubernetes"), ("IMAGE_MLOPS_STACK_WORKERS", "0")],
)
def test_the_stack_settings_refuse_what_the_stack_cannot_run(variable, value):
    with pytest.raises(SettingsError, match=variable):
        StackSettings.from_env({variable: value})


def test_the_topology_is_the_settings_or_what_is_asked_when_nothing_runs(tmp_path):
    settings = Settings.from_env({"IMAGE_MLOPS_STATE_DIR": str(tmp_path)})
    celery = StackSettings.from_env({"IMAGE_MLOPS_STACK_EXECUTOR": "celery"})
    assert LocalStack(settings, celery).topology() == Topology("celery", 2)
    assert LocalStack(settings, celery, workers=3).topology() == Topology("celery", 3)
    local = LocalStack(settings, celery, executor="local", workers=3)
    assert local.topology() == Topology("local")
    assert Topology("celery", 1).describe() == "CeleryExecutor with 1 worker"
    assert Topology("local").describe() == "LocalExecutor"


def test_a_worker_has_its_own_state_folder_and_temporary_directory(tmp_path):
    base = {"AIRFLOW_HOME": "/shared/airflow", "IMAGE_MLOPS_STATE_DIR": str(tmp_path)}
    env = scale_out.worker_environment(base, tmp_path, 2)
    assert env["IMAGE_MLOPS_STATE_DIR"] == str(tmp_path / "workers" / "worker-2")
    assert env["TMPDIR"] == str(tmp_path / "workers" / "worker-2" / "tmp")
    assert (tmp_path / "workers" / "worker-2" / "tmp").is_dir()
    assert env["IMAGE_MLOPS_WORKER_NAME"] == "worker-2"
    assert env["AIRFLOW_HOME"] == "/shared/airflow"  # what Airflow's topology shares


def test_the_hostname_names_the_worker(monkeypatch):
    import socket

    monkeypatch.delenv("IMAGE_MLOPS_WORKER_NAME", raising=False)
    assert scale_out.worker_hostname() == socket.getfqdn()
    monkeypatch.setenv("IMAGE_MLOPS_WORKER_NAME", "worker-1")
    assert scale_out.worker_hostname() == f"worker-1.{socket.getfqdn()}"


def test_airflows_celery_config_names_importable_parts():
    config = scale_out.airflow_celery_config(
        broker="redis://:pw@127.0.0.1:1/0", result_backend="db+postgresql://x/airflow", workers=3
    )
    assert config["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert int(config["AIRFLOW__CORE__PARALLELISM"]) >= 3 * scale_out.WORKER_CONCURRENCY
    module, name = config["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is scale_out.worker_hostname


def test_the_broker_url_quotes_the_password_and_redis_config_is_owner_only(tmp_path):
    assert scale_out.broker_url(6379, "a/b@c") == "redis://:a%2Fb%40c@127.0.0.1:6379/0"
    config = scale_out.write_redis_config(tmp_path / "redis", 6390, "s3cret")
    assert config.stat().st_mode & 0o077 == 0
    lines = config.read_text().splitlines()
    assert 'requirepass "s3cret"' in lines and "bind 127.0.0.1" in lines and "port 6390" in lines


def test_the_worker_command_serves_the_default_queue_without_a_log_server():
    command = scale_out.worker_command("airflow", 1)
    assert command[:3] == ["airflow", "celery", "worker"]
    assert "worker-1@%h" in command and "--skip-serve-logs" in command


def test_the_cli_refuses_fewer_than_one_worker():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "image_mlops.cli",
            "stack",
            "up",
            "--executor",
            "celery",
            "--workers",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--workers must be at least 1" in proc.stderr


def test_no_redis_server_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without redis-server
    with pytest.raises(StackError, match="apt-get install redis-server"):
        scale_out.redis_server_binary()
