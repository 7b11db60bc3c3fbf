"""The embedded local stack: PostgreSQL, the AWS emulator and Airflow 3, as local processes.

``up`` is idempotent (running parts are left alone, dead ones restarted), ``down`` stops
only the processes whose PIDs it recorded, ``status`` tells what runs where. All state lives
under ``IMAGE_MLOPS_STATE_DIR`` (``.local/``): the database files, the emulator's journal,
Airflow's home and every log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from image_mlops.config import PROJECT_ROOT, Settings
from image_mlops_dev.emulator.images import VENVS_ENV
from image_mlops_dev.stack import scale_out
from image_mlops_dev.stack.identities import (
    LOCAL_ACCESS_KEY_ID,
    STATIC_CREDENTIALS,
    admin_client,
    bootstrap_secret,
    ca_bundle,
    tls_dir,
    worker_credentials_environment,
)
from image_mlops_dev.stack.postgres import EmbeddedPostgres, PostgresError
from image_mlops_dev.stack.processes import (
    ManagedProcess,
    StackError,
    free_port,
    port_in_use,
    wait_for,
)
from image_mlops_dev.stack.settings import StackSettings

AIRFLOW_DATABASE = "airflow"
CATALOG_DATABASE = "product_catalog"
MLOPS_DATABASE = "image_mlops"
#: The CloudFormation stack the local stack deploys (infra/image-mlops.yaml).
STACK_NAME = "image-mlops"
#: The local stack's queue subscribed to the notification topic (the demo summary reads it).
NOTIFICATION_INBOX = "image-mlops-notifications-inbox"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: A folder where stacks share their migrated Airflow database
#: (:meth:`LocalStack.migrate_airflow`): the tests set it; ``make up`` and the demo migrate.
AIRFLOW_DB_CACHE = "IMAGE_MLOPS_AIRFLOW_DB_CACHE"
#: The folder the emulator caches the container profiles' virtualenvs in (default: the state
#: folder's ``container-venvs/``); the test run points every stack at one.
CONTAINER_VENVS = VENVS_ENV
#: Generated into ``.env`` on first use (``NAME=`` with no value in ``.env.example``).
GENERATED_SECRETS = (
    "IMAGE_MLOPS_PG_PASSWORD",
    "IMAGE_MLOPS_LOCAL_AWS_SECRET",
    "IMAGE_MLOPS_REDIS_PASSWORD",
)
#: Airflow settings of the local stack: LocalExecutor with low parallelism (each worker
#: process costs ~145 MB), examples off.
AIRFLOW_LOCAL_CONFIG = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}

#: New and changed DAG files picked up within seconds, for someone editing DAGs on the local
#: stack; a value in the environment wins (the tests' profile, :data:`TESTS_TIMING`).
DAG_PARSING = {
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "15",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
}

#: Task processes run one numpy computation each, several at a time: one BLAS thread per
#: process. OpenBLAS otherwise starts a thread per core in every process, and those threads
#: spin after each call, taking the cores the other tasks and the emulator need (measured:
#: batch classification with two worker processes 308 → 353 images/s on 2 cores).
WORKER_THREAD_LIMITS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


#: The timing profile of the private stacks (the tests', the end-to-end demo test's, the
#: benchmarks'): the same states in the same order as with the demo's profile (`.env.example`)
#: or production's defaults (:mod:`image_mlops.config`), sooner. docs/tests.md has the table.
TESTS_TIMING = {
    "IMAGE_MLOPS_JOB_POLL_SECONDS": "2",
    # each traffic-shifting step bakes long enough for a 2 s poke to see it
    "IMAGE_MLOPS_TRAFFIC_WAIT_SECONDS": "5",
    # a DAG file re-parsed every 10 minutes rather than every 15 s: no test changes one, the
    # first parse comes at start, and an idle Airflow's parses were most of its CPU
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
}


def private_stack_environment(
    state: Path, pg_port: int, emulator_port: int, airflow_port: int
) -> dict[str, str]:
    """Settings and connections of a stack of its own: its state folder, its ports, and
    freshly generated secrets (the database password, the emulator's bootstrap key).

    The test session, the stacks its end-to-end tests start as subprocesses and the benchmarks
    all use it, so none of them touches the developer's ``make up`` stack. The AWS connection
    carries no key: Airflow's processes act as the worker role (:mod:`.identities`).
    """
    pg_password = secrets.token_urlsafe(24)
    redis_port = free_port()
    while redis_port in (pg_port, emulator_port, airflow_port):
        # the given ports are free but not yet bound: the system may hand one out again
        redis_port = free_port()
    database = f"postgres://postgres:{pg_password}@127.0.0.1:{pg_port}"
    return {
        "IMAGE_MLOPS_TARGET": "local",
        **TESTS_TIMING,
        "IMAGE_MLOPS_STATE_DIR": str(state),
        "IMAGE_MLOPS_PG_PORT": str(pg_port),
        "IMAGE_MLOPS_PG_PASSWORD": pg_password,
        "IMAGE_MLOPS_REDIS_PORT": str(redis_port),
        "IMAGE_MLOPS_REDIS_PASSWORD": secrets.token_urlsafe(24),
        "IMAGE_MLOPS_EMULATOR_PORT": str(emulator_port),
        "IMAGE_MLOPS_AIRFLOW_PORT": str(airflow_port),
        "IMAGE_MLOPS_LOCAL_AWS_SECRET": secrets.token_urlsafe(24),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            local_aws_connection(emulator_port, state / "emulator" / "tls" / "ca.pem")
        ),
        "AIRFLOW_CONN_PRODUCT_CATALOG_DB": f"{database}/{CATALOG_DATABASE}",
        "AIRFLOW_CONN_IMAGE_MLOPS_DB": f"{database}/{MLOPS_DATABASE}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def local_aws_connection(emulator_port: int, ca: Path) -> dict:
    """The AWS connection of a local stack: the emulator's endpoint and CA, no key (the
    credentials come from the environment, as on MWAA)."""
    return {
        "conn_type": "aws",
        "extra": {
            "region_name": "us-east-1",
            "endpoint_url": f"https://127.0.0.1:{emulator_port}",
            "verify": str(ca),
        },
    }


def isolated_environment(
    base: dict[str, str], state: Path, pg_port: int, emulator_port: int, airflow_port: int
) -> dict[str, str]:
    """``base`` without any stack's Airflow and image-mlops settings, plus a private stack's
    (:func:`private_stack_environment`): for a second stack started as a subprocess."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "IMAGE_MLOPS_", "AWS_CONTAINER_"))
        and k != "AIRFLOW_HOME"
        and k not in STATIC_CREDENTIALS
    }
    env.update(private_stack_environment(state, pg_port, emulator_port, airflow_port))
    for shared in (AIRFLOW_DB_CACHE, CONTAINER_VENVS):  # what the tests' stacks share
        if shared in base:
            env[shared] = base[shared]
    return env


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _say(message: str) -> None:
    print(message, flush=True)


#: The setting that chooses the target; ``.env`` (the local stack's file) serves ``local`` only.
TARGET_VARIABLE = "IMAGE_MLOPS_TARGET"


def _is_local_target(value: str | None) -> bool:
    """``value`` of :data:`TARGET_VARIABLE` means the local target (unset or empty: the default)."""
    return (value or "").strip() in ("", "local")


def load_env_file(root: Path = PROJECT_ROOT, environ: dict | None = None) -> Path | None:
    """Load ``.env`` (created from ``.env.example`` when missing) without overriding.

    Variables already in the environment win, so CI and tests can set their own. The local
    stack's secrets (:data:`GENERATED_SECRETS`) are generated into the file on first use, and
    the file is readable by its owner only.

    ``.env`` is the local stack's file (its AWS connection is the emulator's): it serves the
    local target only. With another target in the environment (``IMAGE_MLOPS_TARGET=aws``)
    it is neither read, created nor changed (returns ``None``): the environment is the whole
    configuration, as on AWS. A ``.env`` that itself names another target (and the
    environment none) is refused, a :class:`CommandError` naming the file and the variable,
    rather than half applied.
    """
    from dotenv import dotenv_values

    from image_mlops.commands import CommandError

    environ = os.environ if environ is None else environ
    if not _is_local_target(environ.get(TARGET_VARIABLE)):
        return None
    env_file = root / ".env"
    if not env_file.exists():
        example = root / ".env.example"
        if not example.exists():
            return None
        shutil.copyfile(example, env_file)
    env_file.chmod(0o600)
    target = dotenv_values(env_file, interpolate=False).get(TARGET_VARIABLE)
    if TARGET_VARIABLE not in environ and not _is_local_target(target):
        raise CommandError(
            f"{env_file} sets {TARGET_VARIABLE}={target}, but that file is the local stack's "
            "(its connections point at the local emulator) and is read for the local target "
            f"only: put {TARGET_VARIABLE}=local back in it, and for AWS set "
            f"{TARGET_VARIABLE}=aws with AWS's settings and connections in the environment "
            "(docs/aws.md); .env is then not read"
        )
    _generate_secrets(env_file)
    values = dotenv_values(env_file, interpolate=False)
    # ${VAR} is resolved against the environment as it stands (real variables first), so an
    # overridden port flows into the connection URIs that reference it; plain values first,
    # so a reference to a generated secret resolves wherever in the file that secret is.
    ordered = sorted(values.items(), key=lambda item: "${" in (item[1] or ""))
    for key, value in ordered:
        if key in environ or value is None:
            continue
        if "${" in value:
            _derive_local_variables(environ)
        environ[key] = _VARIABLE.sub(lambda m: environ.get(m.group(1), ""), value)
    return env_file


def _derive_local_variables(environ: dict) -> None:
    """Values ``.env`` may refer to that follow from the others: the emulator's CA file
    (``IMAGE_MLOPS_EMULATOR_CA``, in the state folder)."""
    if "IMAGE_MLOPS_EMULATOR_CA" not in environ:
        settings = Settings.from_env(environ)
        environ["IMAGE_MLOPS_EMULATOR_CA"] = str(ca_bundle(settings))


def _generate_secrets(env_file: Path) -> None:
    """Fill each of :data:`GENERATED_SECRETS` that ``env_file`` leaves empty or lacks."""
    lines = env_file.read_text().splitlines()
    missing = set(GENERATED_SECRETS)
    changed = False
    for index, line in enumerate(lines):
        name, sep, value = line.partition("=")
        if sep and name.strip() in missing:
            missing.discard(name.strip())
            if not value.strip():
                lines[index] = f"{name.strip()}={secrets.token_urlsafe(24)}"
                changed = True
    for name in sorted(missing):
        lines.append(f"{name}={secrets.token_urlsafe(24)}")
        changed = True
    if changed:
        env_file.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Topology:
    """What runs the tasks: ``local`` (LocalExecutor) or ``celery`` with ``workers``."""

    executor: str
    workers: int = 0

    @property
    def celery(self) -> bool:
        return self.executor == "celery"

    def describe(self) -> str:
        if self.celery:
            return f"CeleryExecutor with {self.workers} worker{'s' if self.workers != 1 else ''}"
        return "LocalExecutor"


@dataclass
class LocalStack:
    settings: Settings
    #: Its ports, executor and login (default: from the environment, as ``settings`` are).
    stack_settings: StackSettings = field(default_factory=StackSettings.from_env)
    #: Start the emulator with fault injection (the test stack's fault suite; never the demo).
    emulator_faults: bool = False
    #: The executor and workers asked for (``make up EXECUTOR=celery WORKERS=2``); None: what
    #: the running stack has, else the settings ``IMAGE_MLOPS_STACK_EXECUTOR`` / ``_WORKERS``.
    executor: str | None = None
    workers: int | None = None
    #: The CloudFormation stack of the AWS side.
    stack_name: str = STACK_NAME

    # -- parts ---------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def topology_file(self) -> Path:
        return self.run_dir / "topology.json"

    def topology(self) -> Topology:
        """The running stack's topology when Airflow runs; else the one asked for.

        Asking a running stack for another one is an error (``make down`` first): a scheduler
        with one executor and workers of another would leave tasks queued forever.
        """
        asked = Topology(
            self.executor or self.stack_settings.stack_executor,
            self.workers or self.stack_settings.stack_workers,
        )
        if asked.executor not in ("local", "celery"):
            raise StackError(f"unknown executor {asked.executor!r}: local or celery")
        if not asked.celery:
            asked = Topology("local")
        if not any(self.airflow_component(name).pid() for name in AIRFLOW_COMPONENTS):
            return asked
        # a stack started before topologies were recorded ran the LocalExecutor
        running = Topology("local")
        if self.topology_file.exists():
            running = Topology(**json.loads(self.topology_file.read_text()))
        if (self.executor or self.workers) and asked != running:
            raise StackError(
                f"the stack runs Airflow with the {running.describe()}, not the "
                f"{asked.describe()}: `make down` first"
            )
        return running

    @property
    def journal(self) -> Path:
        return self.state_dir / "emulator" / "journal.bin"

    @property
    def postgres(self) -> EmbeddedPostgres:
        password = os.environ.get("IMAGE_MLOPS_PG_PASSWORD")
        if not password:
            raise StackError(
                "IMAGE_MLOPS_PG_PASSWORD is not set: the local PostgreSQL requires a password "
                "(`make up` generates one into .env; see .env.example)"
            )
        return EmbeddedPostgres(
            self.state_dir / "postgres" / "data", self.stack_settings.pg_port, password=password
        )

    def emulator(self) -> ManagedProcess:
        return ManagedProcess(
            name="emulator",
            command=[
                sys.executable,
                "-m",
                "image_mlops_dev.emulator",
                "--port",
                str(self.stack_settings.emulator_port),
                "--journal",
                str(self.journal),
                "--tls-dir",
                str(tls_dir(self.settings)),
                *(["--faults"] if self.emulator_faults else []),
            ],
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            marker="image_mlops_dev.emulator",
        )

    def airflow_component(self, name: str) -> ManagedProcess:
        airflow = str(Path(sys.executable).parent / "airflow")
        args = [airflow, name]
        if name == "api-server":
            args += ["--port", str(self.stack_settings.airflow_port), "--host", "127.0.0.1"]
        return ManagedProcess(
            # Airflow retitles its processes ("airflow api_server -- ..."), so match on that.
            name=name,
            command=args,
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            marker="airflow",
        )

    def redis(self) -> ManagedProcess:
        return ManagedProcess(
            name="redis",
            command=[scale_out.redis_server_binary(), str(self.state_dir / "redis" / "redis.conf")],
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            marker="redis-server",
        )

    def celery_worker(self, index: int) -> ManagedProcess:
        airflow = str(Path(sys.executable).parent / "airflow")
        return ManagedProcess(
            name=f"celery-{scale_out.worker_name(index)}",
            command=scale_out.worker_command(airflow, index),
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            # Celery retitles its process "[celeryd: worker-1@host:MainProcess] ..."
            marker=f"{scale_out.worker_name(index)}@",
        )

    def recorded_workers(self) -> list[int]:
        """The worker numbers with a PID file (running or died), for ``down`` and ``status``."""
        return sorted(
            int(path.stem.rsplit("-", 1)[1]) for path in self.run_dir.glob("celery-worker-*.pid")
        )

    @property
    def broker_url(self) -> str:
        return scale_out.broker_url(self.stack_settings.redis_port, scale_out.redis_password())

    # -- environment -------------------------------------------------------------------------
    def _secrets(self) -> dict[str, str]:
        """Per-installation secrets for Airflow, generated once, kept in the state folder."""
        path = self.airflow_home / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        from cryptography.fernet import Fernet

        values = {
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
        path.chmod(0o600)
        return values

    def airflow_environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        port = self.stack_settings.airflow_port
        env.update(AIRFLOW_LOCAL_CONFIG)
        topology = self.topology()
        if topology.celery:
            env.update(
                scale_out.airflow_celery_config(
                    broker=self.broker_url,
                    result_backend=self.postgres.uri(AIRFLOW_DATABASE, "db+postgresql"),
                    workers=topology.workers,
                )
            )
        if self.stack_settings.airflow_login:
            # Airflow's simple auth manager with real users: it generates their passwords
            # into $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
            env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
        for name, value in {**DAG_PARSING, **WORKER_THREAD_LIMITS}.items():
            env.setdefault(name, value)  # a user's own value wins
        env.update(self._secrets())
        if self.settings.is_local:
            # Airflow acts as the worker role, as on MWAA: no key of its own, the role's
            # credentials from the environment's container credentials endpoint
            for name in STATIC_CREDENTIALS:
                env.pop(name, None)
            env.update(worker_credentials_environment(self.stack_settings))
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.uri(
                    AIRFLOW_DATABASE, "postgresql+psycopg2"
                ),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
                "IMAGE_MLOPS_STATE_DIR": str(self.state_dir),
            }
        )
        return env

    # -- lifecycle -------------------------------------------------------------------------------
    def check_ports(self) -> None:
        """A busy port that is not ours gives one line saying what to do."""
        checks = [
            (
                "PostgreSQL",
                self.stack_settings.pg_port,
                "IMAGE_MLOPS_PG_PORT",
                self.postgres.is_running(),
            ),
            (
                "AWS emulator",
                self.stack_settings.emulator_port,
                "IMAGE_MLOPS_EMULATOR_PORT",
                self.emulator().pid() is not None,
            ),
            (
                "Airflow api-server",
                self.stack_settings.airflow_port,
                "IMAGE_MLOPS_AIRFLOW_PORT",
                self.airflow_component("api-server").pid() is not None,
            ),
        ]
        if self.topology().celery:
            checks.append(
                (
                    "Redis",
                    self.stack_settings.redis_port,
                    "IMAGE_MLOPS_REDIS_PORT",
                    self.redis().pid() is not None,
                )
            )
        for what, port, variable, ours in checks:
            if not ours and port_in_use(port):
                raise StackError(
                    f"port {port} for the {what} is taken by another program: stop it, or set "
                    f"{variable} to a free port in .env"
                )

    def check_database_connections(self) -> None:
        """A ``.env`` from before passwords were required still has password-less
        connections to the local database: say how to fix it, before tasks fail on it."""
        from urllib.parse import urlsplit

        aws = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT") or ""
        if self.stack_settings.emulator_plain_url in aws:
            # a .env from before the emulator spoke TLS and Airflow acted as the worker role
            raise StackError(
                "AIRFLOW_CONN_AWS_DEFAULT in .env signs with the stack's key over plain HTTP, "
                "which the buckets now refuse: copy that line from .env.example into .env (no "
                "key, https and ${IMAGE_MLOPS_EMULATOR_CA}; docs/roles.md)"
            )
        for name in ("AIRFLOW_CONN_PRODUCT_CATALOG_DB", "AIRFLOW_CONN_IMAGE_MLOPS_DB"):
            uri = urlsplit(os.environ.get(name) or "")
            if uri.port == self.stack_settings.pg_port and not uri.password:
                raise StackError(
                    f"{name} in .env has no password, and the local PostgreSQL requires one: "
                    "copy that line from .env.example into .env (it uses "
                    "${IMAGE_MLOPS_PG_PASSWORD})"
                )

    def start_postgres(self) -> None:
        self.check_database_connections()
        pg = self.postgres
        try:
            pg.start()
            pg.ensure_database(AIRFLOW_DATABASE)
            pg.ensure_database(CATALOG_DATABASE)
            pg.ensure_database(MLOPS_DATABASE)
        except PostgresError as exc:
            raise StackError(str(exc)) from exc

    def emulator_environment(self) -> dict[str, str]:
        """The emulator's environment: the stack's bootstrap key, the one long-term key it
        knows (everyone else signs with role sessions it issues)."""
        try:
            secret = bootstrap_secret()
        except RuntimeError as exc:
            raise StackError(str(exc)) from exc
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_CONTAINER_")}
        env["AWS_ACCESS_KEY_ID"] = LOCAL_ACCESS_KEY_ID
        env["AWS_SECRET_ACCESS_KEY"] = secret
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def start_emulator(self) -> None:
        process = self.emulator()
        process.start(self.emulator_environment(), PROJECT_ROOT)
        wait_for(self.emulator_ready, 120, "AWS emulator", process)

    def emulator_ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.stack_settings.emulator_plain_url}/_emulator/health", timeout=2
            ):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def template_parameters(self, code_bucket: str, code_key: str) -> dict[str, str]:
        """The template's parameters for these settings, as a user sets them on AWS."""
        settings = self.settings
        return {
            "ModelName": settings.model_name,
            "RawBucketName": settings.raw_bucket,
            "ValidatedBucketName": settings.validated_bucket,
            "ModelsBucketName": settings.models_bucket,
            "OutputBucketName": settings.output_bucket,
            "MetricsNamespace": settings.cloudwatch_namespace,
            "SageMakerRoleName": settings.sagemaker_role_arn.rsplit("/", 1)[-1],
            "NotificationTopicName": (
                settings.notification_topic.rsplit(":", 1)[-1] or "image-mlops-notifications"
            ),
            "ValidationLambdaCodeBucket": code_bucket,
            "ValidationLambdaCodeKey": code_key,
        }

    @property
    def artifacts_bucket(self) -> str:
        """Where the stack's setup uploads what the template deploys (the Lambda's zip), as
        ``aws cloudformation package`` does on AWS."""
        return f"{self.stack_name}-artifacts-{self.settings.account_id}"

    def deploy_aws_side(self) -> dict[str, str]:
        """Deploy ``infra/image-mlops.yaml`` to the emulator with the bootstrap key, as a user
        deploys it to AWS (create, or update when the template, the Lambda's code or the
        parameters changed); then the local notification inbox. Returns the outputs."""
        import hashlib

        from botocore.exceptions import ClientError

        from image_mlops_dev import infra
        from image_mlops_dev.packaging import validation_lambda_zip

        s3 = admin_client("s3", self.settings)
        try:
            s3.head_bucket(Bucket=self.artifacts_bucket)
        except ClientError:
            s3.create_bucket(Bucket=self.artifacts_bucket)
        code = validation_lambda_zip()
        key = f"lambda/validate_images-{hashlib.sha256(code).hexdigest()[:16]}.zip"
        s3.put_object(Bucket=self.artifacts_bucket, Key=key, Body=code)
        body = infra.TEMPLATE_PATH.read_text()
        parameters = [
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in self.template_parameters(self.artifacts_bucket, key).items()
        ]
        cloudformation = admin_client("cloudformation", self.settings)
        try:
            stack = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError:
            stack = None
        if stack is None or stack["StackStatus"].startswith("DELETE"):
            cloudformation.create_stack(
                StackName=self.stack_name,
                TemplateBody=body,
                Parameters=parameters,
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
        else:
            deployed = cloudformation.get_template(StackName=self.stack_name)["TemplateBody"]
            given = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
            wanted = {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
            if deployed != body or any(given.get(k) != v for k, v in wanted.items()):
                cloudformation.update_stack(
                    StackName=self.stack_name,
                    TemplateBody=body,
                    Parameters=parameters,
                    Capabilities=["CAPABILITY_NAMED_IAM"],
                )
        stack = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in stack["StackStatus"]:
            raise StackError(
                f"the CloudFormation stack {self.stack_name} is {stack['StackStatus']}: "
                f"{stack.get('StackStatusReason', '')}"
            )
        self.ensure_notification_inbox()
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def ensure_notification_inbox(self) -> str | None:
        """The local inbox queue subscribed to the notification topic (the demo summary reads
        it); idempotent. Returns the queue URL (None: notifications off)."""
        from image_mlops.notifications import topic_arn
        from image_mlops_dev.notification_inbox import subscribe_queue

        if topic_arn(self.settings) is None:
            return None
        return subscribe_queue(NOTIFICATION_INBOX, self.settings)

    def migrate_airflow(self) -> None:
        """Airflow's metadata database at its schema's head. Where :data:`AIRFLOW_DB_CACHE`
        names a folder (the tests' stacks share one), the first stack migrates and leaves a
        dump of the result for this Airflow version there, and every fresh database after it
        loads that dump instead of migrating again (a migration costs each stack about 4 s
        of CPU)."""
        cache = os.environ.get(AIRFLOW_DB_CACHE)
        if not cache:
            self._airflow_db_migrate()
            return
        import fcntl
        from importlib.metadata import version

        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
        dump = folder / f"airflow-{version('apache-airflow')}.sql"
        empty = "SELECT to_regclass('alembic_version') IS NULL"
        fresh = self.postgres.psql(empty, AIRFLOW_DATABASE) == "t"
        with (folder / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one stack migrates; the others wait for its dump
            if not fresh or not dump.exists():
                self._airflow_db_migrate()  # an existing database: migrate it (idempotent)
                if not dump.exists():
                    partial = dump.with_suffix(".partial")
                    self.postgres.dump(AIRFLOW_DATABASE, partial)
                    partial.replace(dump)
                return
        self.postgres.load(AIRFLOW_DATABASE, dump)

    def _airflow_db_migrate(self) -> None:
        env = self.airflow_environment()
        airflow = str(Path(sys.executable).parent / "airflow")
        proc = subprocess.run(
            [airflow, "db", "migrate"], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-10:])
            raise StackError(f"`airflow db migrate` failed:\n{tail}")

    def start_redis(self) -> None:
        port, password = self.stack_settings.redis_port, scale_out.redis_password()
        scale_out.write_redis_config(self.state_dir / "redis", port, password)
        process = self.redis()
        process.start(os.environ.copy(), self.state_dir / "redis")
        wait_for(lambda: scale_out.redis_ready(port, password), 30, "Redis", process)

    def start_airflow(self) -> None:
        topology = self.topology()
        if topology.celery:
            self.start_redis()
        env = self.airflow_environment()
        for name in AIRFLOW_COMPONENTS:
            self.airflow_component(name).start(env, PROJECT_ROOT)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.topology_file.write_text(json.dumps(dataclasses.asdict(topology)))
        for index in range(1, topology.workers + 1):
            worker_env = scale_out.worker_environment(env, self.state_dir, index)
            self.celery_worker(index).start(worker_env, PROJECT_ROOT)
        wait_for(
            self.airflow_healthy,
            180,
            "Airflow",
            self.airflow_component("api-server"),
        )
        if topology.celery:
            self.wait_for_workers(topology.workers)

    def wait_for_workers(self, count: int, timeout: float = 120) -> None:
        expected = {scale_out.worker_name(i) for i in range(1, count + 1)}
        first = self.celery_worker(1)
        wait_for(
            lambda: expected <= scale_out.answering_workers(self.broker_url),
            timeout,
            "the Celery workers",
            first,
        )

    def airflow_health(self) -> dict | None:
        url = f"{self.stack_settings.airflow_api_url}/api/v2/monitor/health"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def airflow_healthy(self) -> bool:
        health = self.airflow_health()
        if not health:
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def up(self, airflow: bool = True, say: Callable[[str], None] = _say) -> None:
        started = time.monotonic()
        self.check_ports()
        say(f"PostgreSQL      127.0.0.1:{self.stack_settings.pg_port}")
        self.start_postgres()
        say(f"AWS emulator    {self.stack_settings.emulator_url}")
        self.start_emulator()
        say(f"AWS side        CloudFormation stack {self.stack_name} (infra/image-mlops.yaml)")
        self.deploy_aws_side()
        if airflow:
            say("Airflow         migrating the metadata database ...")
            self.migrate_airflow()
            topology = self.topology()
            components = ", ".join(AIRFLOW_COMPONENTS)
            say(f"Airflow         {topology.describe()}: starting {components} ...")
            if topology.celery:
                say(f"Redis           127.0.0.1:{self.stack_settings.redis_port} (Celery's broker)")
            self.start_airflow()
        elapsed = time.monotonic() - started
        say(f"stack up in {elapsed:.0f} s; Airflow UI: {self.stack_settings.airflow_url}")

    def stop_airflow(self, say: Callable[[str], None] = _say) -> None:
        """Stop Airflow's services (and the Celery workers and Redis of the scale-out profile);
        PostgreSQL and the emulator keep running."""
        for name in reversed(AIRFLOW_COMPONENTS):
            if self.airflow_component(name).stop():
                say(f"stopped {name}")
        for index in self.recorded_workers():
            worker = self.celery_worker(index)
            if worker.stop():
                say(f"stopped {worker.name}")
        if self.redis_recorded() and self.redis().stop():
            say("stopped redis")
        self.topology_file.unlink(missing_ok=True)

    def down(self, say: Callable[[str], None] = _say) -> None:
        self.stop_airflow(say)
        if self.emulator().stop():
            say("stopped emulator")
        if self.postgres.stop():
            say("stopped postgres")

    def status(self) -> list[tuple[str, str, str]]:
        """(component, state, where) rows."""
        rows = []
        pg_pid = self.postgres.pid()
        rows.append(
            (
                "postgres",
                f"running (pid {pg_pid})" if pg_pid else "stopped",
                f"127.0.0.1:{self.stack_settings.pg_port}",
            )
        )
        emulator = self.emulator()
        pid = emulator.pid()
        state = f"running (pid {pid})" if pid else _stopped_or_dead(emulator)
        if pid and not self.emulator_ready():
            state += ", not answering"
        rows.append(("emulator", state, self.stack_settings.emulator_url))
        health = self.airflow_health() or {}
        key = {"api-server": "metadatabase", "dag-processor": "dag_processor"}
        for name in AIRFLOW_COMPONENTS:
            process = self.airflow_component(name)
            pid = process.pid()
            state = f"running (pid {pid})" if pid else _stopped_or_dead(process)
            part = (health.get(key.get(name, name)) or {}).get("status")
            if pid and part and part != "healthy":
                state += f", {part}"
            where = (
                self.stack_settings.airflow_url if name == "api-server" else str(process.log_file)
            )
            rows.append((name, state, where))
        if self.redis_recorded():
            redis = self.redis()
            pid = redis.pid()
            state = f"running (pid {pid})" if pid else _stopped_or_dead(redis)
            rows.append(("redis", state, f"127.0.0.1:{self.stack_settings.redis_port}"))
        answering = scale_out.answering_workers(self.broker_url) if self.redis_recorded() else set()
        for index in self.recorded_workers():
            worker = self.celery_worker(index)
            pid = worker.pid()
            state = f"running (pid {pid})" if pid else _stopped_or_dead(worker)
            if pid and scale_out.worker_name(index) not in answering:
                state += ", not answering"
            rows.append((worker.name, state, str(worker.log_file)))
        return rows

    def redis_recorded(self) -> bool:
        return (self.run_dir / "redis.pid").exists()


def _stopped_or_dead(process: ManagedProcess) -> str:
    if process.died():
        return f"DIED (see {process.log_file}; `make up` restarts it)"
    return "stopped"


def prepare_cli_environment() -> None:
    """The ``image-mlops`` CLI outside Airflow on the local stack: ``.env`` loaded, and the
    Airflow code it uses (hooks, the DAG bag) pointed at the stack's Airflow home and
    database instead of ~/airflow (registered as an ``image_mlops.cli_environment`` entry
    point). With another target in the environment (``IMAGE_MLOPS_TARGET=aws``) it does
    nothing: no ``.env``, nothing of the local stack (:func:`load_env_file`)."""
    from image_mlops.commands import CommandError
    from image_mlops.config import SettingsError, get_settings

    load_env_file()
    try:
        settings = get_settings()
    except SettingsError as exc:  # one line naming the variable, not a traceback
        raise CommandError(str(exc)) from None
    if settings.is_local:
        for key, value in LocalStack(settings).airflow_environment(base={}).items():
            os.environ.setdefault(key, value)
