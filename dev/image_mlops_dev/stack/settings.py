"""The local stack's own settings: its ports, its executor and workers, its login.

They are environment variables ``IMAGE_MLOPS_<NAME>`` like the deployment settings, read the
same way (:func:`image_mlops.config.values_from_env`), but only the development install reads
them: MWAA and any other deployment never start this stack, so the production ``Settings``
do not carry them. ``.env`` sets them for ``make up``; a test's private stack gets its own
(:func:`image_mlops_dev.stack.manager.private_stack_environment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from image_mlops.config import SettingsError, describe_fields, setting, values_from_env

#: Airflow executors the local stack can run: LocalExecutor, or CeleryExecutor with workers.
STACK_EXECUTORS = ("local", "celery")


@dataclass(frozen=True)
class StackSettings:
    pg_port: int = setting(54329, "Port of the embedded PostgreSQL (127.0.0.1).")
    emulator_port: int = setting(5055, "Port of the local AWS emulator (127.0.0.1).")
    airflow_port: int = setting(8080, "Port of the Airflow api-server (UI and REST API).")
    stack_executor: str = setting(
        "local",
        "Local stack: Airflow's executor, `local` (LocalExecutor) or `celery` (CeleryExecutor: "
        "Redis and `IMAGE_MLOPS_STACK_WORKERS` Celery workers; needs `redis-server`). "
        "`make up EXECUTOR=celery` chooses it for one start.",
    )
    stack_workers: int = setting(
        2,
        "Local stack on `celery`: how many Celery workers, each with its own state folder and "
        "temporary directory, as if on a machine of its own.",
    )
    redis_port: int = setting(63799, "Port of the local stack's Redis, Celery's broker.")
    airflow_login: bool = setting(
        False,
        "Local stack: require an Airflow login (user `admin`, password generated into "
        "`.local/airflow/simple_auth_manager_passwords.json.generated`) instead of everyone "
        "being admin.",
    )

    @property
    def emulator_url(self) -> str:
        """The local emulator's AWS endpoint (TLS, its certificate from the stack's own CA)."""
        return f"https://127.0.0.1:{self.emulator_port}"

    @property
    def emulator_plain_url(self) -> str:
        """The emulator's port over plain HTTP (health, and the credentials endpoint)."""
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def airflow_url(self) -> str:
        """The Airflow UI, as people open it."""
        return f"http://localhost:{self.airflow_port}"

    @property
    def airflow_api_url(self) -> str:
        """The api-server as the stack's own clients reach it (it listens on 127.0.0.1)."""
        return f"http://127.0.0.1:{self.airflow_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackSettings:
        settings = cls(**values_from_env(cls, environ))
        if settings.stack_executor not in STACK_EXECUTORS:
            raise SettingsError(
                f"IMAGE_MLOPS_STACK_EXECUTOR={settings.stack_executor!r} is not one of "
                f"{', '.join(STACK_EXECUTORS)}"
            )
        if settings.stack_workers <= 0:
            raise SettingsError("IMAGE_MLOPS_STACK_WORKERS must be positive")
        return settings


def get_stack_settings() -> StackSettings:
    """The local stack's settings from the current environment (read again on every call)."""
    return StackSettings.from_env()


def describe_stack_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) of every local-stack setting (the settings page)."""
    return describe_fields(StackSettings)
