"""Sub-commands of ``image-mlops``: one module each, with ``register(subparsers)``."""

from __future__ import annotations


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit code 1 (2 for usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def local_settings():
    """Settings after loading ``.env`` — for commands that run outside Airflow."""
    import os

    from image_mlops.config import get_settings
    from image_mlops.stack.manager import LocalStack, load_env_file

    load_env_file()
    settings = get_settings()
    if settings.is_local:
        # Airflow code used by the CLI (hooks, the DAG bag) must see the local stack's
        # Airflow home and database, not ~/airflow.
        for key, value in LocalStack(settings).airflow_environment(base={}).items():
            os.environ.setdefault(key, value)
    return settings
