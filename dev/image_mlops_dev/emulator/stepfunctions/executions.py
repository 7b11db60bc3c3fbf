"""Step Functions executions run (moto's own ASL interpreter), and their end is journaled.

moto's interpreter calls Lambda at ``localhost:$MOTO_PORT``, signed with a fixed key; here a
Lambda task calls the emulator (over TLS), signed with a session of the state machine's role,
as Step Functions acts (the role's trust policy must allow ``states.amazonaws.com``, and its
policy ``lambda:InvokeFunction``). An execution's end is an outcome request
(``POST /_emulator/outcomes/execution/<arn>``), journaled, so replay restores it; a replayed
start does not run again, and after replay an execution with no recorded end is ``ABORTED``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from image_mlops_dev.emulator.http.wsgi import WsgiApp, buffered_body, json_response
from image_mlops_dev.emulator.moto_patches import original, patch
from image_mlops_dev.emulator.platform import OUTCOME_PATH, Platform

EXECUTION = "execution"
GHOST_REASON = (
    "The local emulator stopped while this execution was running (make down, or a crash); "
    "its result was lost. Start it again."
)
#: The service principal Step Functions assumes a state machine's role as.
STATES = "states.amazonaws.com"
_platform: Platform | None = None


def _running_executions() -> list[str]:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    arns = []
    for per_region in stepfunctions_parser_backends.values():
        for backend in per_region.values():
            for execution in backend._get_executions(ExecutionStatus.RUNNING):
                arns.append(execution.exec_arn)
    return arns


def _find_execution(arn: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for per_region in stepfunctions_parser_backends.values():
        for backend in per_region.values():
            for execution in backend._get_executions():
                if execution.exec_arn == arn:
                    return execution
    return None


def _apply_execution_outcome(arn: str, outcome: dict[str, Any], when: dt.datetime) -> bool:
    from moto.stepfunctions.parser.api import ExecutionStatus

    execution = _find_execution(arn)
    if execution is None:
        return False
    execution.exec_status = ExecutionStatus(outcome["status"])
    execution.stop_date = when
    if outcome.get("output") is not None:
        execution.output = json.loads(outcome["output"])
    execution.error = outcome.get("error")
    execution.cause = outcome.get("reason")
    return True


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``: a client acting as the state machine's role."""
    if _platform is None:
        raise RuntimeError("Step Functions executions are not enabled")
    role = getattr(state_credentials, "role_arn", "")
    return _platform.client(service, region, role=(role, STATES, "StepFunctions"))


class ExecutionOutcomes:
    """WSGI layer: applies an execution's journaled end."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        prefix = f"{OUTCOME_PATH}{EXECUTION}/"
        if path.startswith(prefix) and environ.get("REQUEST_METHOD") == "POST":
            outcome = json.loads(buffered_body(environ))
            when = dt.datetime.fromisoformat(outcome["time"])
            if not _apply_execution_outcome(path[len(prefix) :], outcome, when):
                return json_response(
                    start_response,
                    "400 Bad Request",
                    {"__type": "ValidationException", "message": f"no execution {path}"},
                )
            return json_response(start_response, "200 OK", {})
        return self.app(environ, start_response)


def end_ghosts(platform: Platform) -> int:
    """After replay: executions that were running when the emulator stopped are aborted."""
    count = 0
    for arn in _running_executions():
        platform.record_outcome(
            EXECUTION, arn, "ABORTED", GHOST_REASON, extra={"error": "States.Runtime"}
        )
        count += 1
    return count


def enable_executions(platform: Platform) -> None:
    """Step Functions executions run, and their end is journaled (see the module docstring)."""
    global _platform
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend import execution as parser_execution

    _platform = platform
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    patch(boto_client, "boto_client_for", _boto_client_for)
    patch(lambda_eval_utils, "boto_client_for", _boto_client_for)
    original_start = original(parser_execution.Execution, "start")
    original_terminated = original(parser_execution.BaseExecutionWorkerCommunication, "terminated")

    def start(self: Any) -> None:
        if _platform is not None and _platform.replaying:
            self.exec_status = ExecutionStatus.RUNNING  # its journaled outcome follows
            return
        original_start(self)

    def terminated(self: Any) -> None:
        original_terminated(self)
        execution = self.execution
        if _platform is not None:
            output = execution.output
            _platform.record_outcome(
                EXECUTION,
                execution.exec_arn,
                str(
                    execution.exec_status.value
                    if hasattr(execution.exec_status, "value")
                    else execution.exec_status
                ),
                execution.cause,
                extra={
                    "error": execution.error,
                    "output": json.dumps(output) if output is not None else None,
                },
            )

    patch(parser_execution.Execution, "start", start)
    patch(parser_execution.BaseExecutionWorkerCommunication, "terminated", terminated)
