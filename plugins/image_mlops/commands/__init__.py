"""Sub-commands of ``image-mlops``: one module each, with ``register(subparsers)``."""

from __future__ import annotations


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit code 1 (2 for usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


#: Entry-point group of functions that prepare the environment of a command run outside
#: Airflow (the development install's local stack registers one: ``.env``, its Airflow home).
ENVIRONMENT_ENTRY_POINTS = "image_mlops.cli_environment"
#: Entry-point group of further command modules (the development install's stack and demo).
COMMAND_ENTRY_POINTS = "image_mlops.commands"


def prepare_environment() -> None:
    """Run every registered environment hook (none in a production install: the environment
    is the configuration). ``main`` runs them before anything imports Airflow, which reads
    its configuration once; they are idempotent."""
    from importlib.metadata import entry_points

    for hook in entry_points(group=ENVIRONMENT_ENTRY_POINTS):
        hook.load()()  # a broken development install fails here, loudly


def local_settings():
    """Settings for commands that run outside Airflow, after the environment hooks ran."""
    from image_mlops.config import get_settings

    prepare_environment()
    return get_settings()
