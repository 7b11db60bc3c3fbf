"""The local stack's scale-out profile: CeleryExecutor, Redis as its broker, N Celery workers.

``make up EXECUTOR=celery WORKERS=2`` runs Airflow's own distributed executor beside the
scheduler, as Airflow's reference docker-compose file does: a packaged ``redis-server``
(started and stopped with the stack, its data and config in the state folder, a generated
password) and ``airflow celery worker`` processes. Each worker gets a state folder and a
temporary directory of its own (``.local/workers/worker-N/``), as if it ran on a machine of
its own: a task that read a local file another task wrote would fail here. What they share is
what Airflow's reference topology shares: the metadata database, the broker, the DAG files and
the task-log folder.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

from image_mlops_dev.stack.processes import StackError

#: Task slots of one worker: two tasks at a time (each may use its cores for one batch).
WORKER_CONCURRENCY = 2
#: The Celery queue the workers serve (Airflow's default queue).
QUEUE = "default"
#: A task that runs longer than this is redelivered by Redis to another worker (Airflow's
#: default, set explicitly so the provider does not warn at every start).
VISIBILITY_TIMEOUT_SECONDS = 86400


def worker_name(index: int) -> str:
    return f"worker-{index}"


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` on the local stack: the worker's name before the
    machine's, so the UI's task-instance *Hostname* (and the tests) tell which of the workers
    on this one machine ran it. Every other process answers the machine's name."""
    fqdn = socket.getfqdn()
    name = os.environ.get("IMAGE_MLOPS_WORKER_NAME")
    return f"{name}.{fqdn}" if name else fqdn


def broker_url(port: int, password: str) -> str:
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"


def redis_password() -> str:
    password = os.environ.get("IMAGE_MLOPS_REDIS_PASSWORD")
    if not password:
        raise StackError(
            "IMAGE_MLOPS_REDIS_PASSWORD is not set: the local Redis requires a password "
            "(`make up` generates one into .env; see .env.example)"
        )
    return password


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(
            "the CeleryExecutor profile needs Redis: install the `redis-server` package "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"
        )
    return binary


def write_redis_config(folder: Path, port: int, password: str) -> Path:
    """Redis's config in the state folder, readable by its owner only (it holds the
    password, which is then never on a command line)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "redis.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        "protected-mode yes",
        f'requirepass "{password}"',
        f'dir "{folder}"',
        # queued task messages survive a Redis restart
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
        'logfile ""',
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def redis_ready(port: int, password: str) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, password=password, socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def airflow_celery_config(*, broker: str, result_backend: str, workers: int) -> dict[str, str]:
    """Airflow's settings for the CeleryExecutor on the local stack."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(max(4, workers * WORKER_CONCURRENCY)),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(
            VISIBILITY_TIMEOUT_SECONDS
        ),
    }


def worker_environment(env: dict[str, str], state_dir: Path, index: int) -> dict[str, str]:
    """A worker's environment: Airflow's, with a state folder and a temporary directory of
    its own."""
    home = state_dir / "workers" / worker_name(index)
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        **env,
        "IMAGE_MLOPS_STATE_DIR": str(home),
        "IMAGE_MLOPS_WORKER_NAME": worker_name(index),
        "TMPDIR": str(tmp),
    }


def worker_command(airflow: str, index: int) -> list[str]:
    return [
        airflow,
        "celery",
        "worker",
        "--celery-hostname",
        f"{worker_name(index)}@%h",
        "--concurrency",
        str(WORKER_CONCURRENCY),
        "--queues",
        QUEUE,
        # task logs go to the shared log folder, where the api-server reads them (as in
        # Airflow's reference compose file); no log server per worker on one machine's port
        "--skip-serve-logs",
    ]


def answering_workers(broker: str, timeout: float = 2.0) -> set[str]:
    """The names of the Celery workers that answer a ping on ``broker`` (``worker-1``, …)."""
    from celery import Celery
    from kombu.exceptions import OperationalError

    app = Celery(broker=broker)
    try:
        replies = app.control.ping(timeout=timeout) or []
    except (OperationalError, OSError):  # the broker is not up (yet)
        return set()
    finally:
        app.close()
    return {hostname.split("@", 1)[0] for reply in replies for hostname in reply}
