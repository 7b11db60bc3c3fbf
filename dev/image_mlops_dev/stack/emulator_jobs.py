"""The emulator runs the compute behind the AWS APIs: training jobs, transform jobs, Lambda.

moto records a SageMaker job as ``Completed`` the moment it is created, without running
anything, has no ``StopTrainingJob``/``StopTransformJob``, and runs Lambda functions (also
those a Step Functions execution calls) in Docker only. This WSGI layer, in front of moto:

* ``CreateTrainingJob`` / ``CreateTransformJob``: moto records the job, the layer makes it
  ``InProgress`` and runs it in a subprocess (:mod:`image_mlops_dev.stack.job_containers`);
  when the process ends the job becomes ``Completed``, ``Failed`` (with its
  ``FailureReason``) or ``Stopped``. ``MaxRuntimeInSeconds`` stops a training job
  (``Stopped``, secondary status ``MaxRuntimeExceeded``), as on AWS;
* ``StopTrainingJob`` / ``StopTransformJob``: ``Stopping``, the process is ended, ``Stopped``;
* Lambda ``Invoke`` of a Python function: the handler runs from the function's zip
  (``RequestResponse``, ``Event``, ``DryRun``; ``FunctionError`` and ``X-Amz-Log-Result`` as
  on AWS). An invocation is not journaled: its effects are the requests it makes;
* Step Functions executions run (moto's own ASL interpreter), calling Lambda through the
  emulator's port.

Durability: a job's end is itself a request, ``POST /_emulator/outcomes/<kind>/<name>``,
sent through the journaling app, so the journal holds it and replay restores it. Replayed
creations and executions do not run again. After replay, a job or execution with no recorded
end (the emulator stopped while it ran) ends as ``Failed``/``ABORTED`` with a reason saying
so, never as a ghost ``InProgress``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from image_mlops_dev.stack.emulator_auth import buffered_body

log = logging.getLogger("image_mlops.emulator.jobs")
WsgiApp = Callable[..., Iterable[bytes]]

OUTCOME_PATH = "/_emulator/outcomes/"
#: Readiness: answered once replay is done and the port is open. (moto's /moto-api/data.json
#: serialises every backend, and fails once a Lambda function exists: it asks Docker.)
HEALTH_PATH = "/_emulator/health"
LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>.+)/invocations/?$")
GHOST_REASON = (
    "The local emulator stopped while this {what} was running (make down, or a crash); "
    "its result was lost. Start it again."
)
_TRAINING, _TRANSFORM, _EXECUTION = "training", "transform", "execution"
#: SageMaker's messages for a training job's secondary statuses (SecondaryStatusTransitions).
_STATUS_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Completed": "Training job completed",
    "Failed": "Training job failed.",
    "Stopped": "Training job stopped by user request.",
    "MaxRuntimeExceeded": "Training job stopped: it reached MaxRuntimeInSeconds.",
}


def is_lambda_invoke(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(
        LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
    )


#: A request's body, left readable for the next layer.
request_body = buffered_body


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json_response(start_response: Callable[..., Any], status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _validation_error(start_response: Callable[..., Any], message: str) -> list[bytes]:
    return _json_response(
        start_response, "400 Bad Request", {"__type": "ValidationException", "message": message}
    )


def _sagemaker_backends() -> Iterable[Any]:
    from moto.sagemaker.models import sagemaker_backends

    for per_region in sagemaker_backends.values():
        yield from per_region.values()


def _find_job(kind: str, name: str) -> Any:
    for backend in _sagemaker_backends():
        jobs = backend.training_jobs if kind == _TRAINING else backend.transform_jobs
        if name in jobs:
            return backend, jobs[name]
    return None, None


class _RunningJob:
    def __init__(self, process: subprocess.Popen, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.stop_reason: tuple[str, str] | None = None  # (secondary status, reason)


class EmulatorJobs:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, *, workdir: Path, endpoint_url: str) -> None:
        self.app = app
        self.workdir = workdir
        self.endpoint_url = endpoint_url
        #: the outermost app (journaling): outcomes go through it, so they are journaled
        self.outer: WsgiApp = app
        self.replaying = False
        self._running: dict[tuple[str, str], _RunningJob] = {}
        self._lock = threading.Lock()

    # --- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return _json_response(start_response, "200 OK", {"status": "ready"})
        if path.startswith(OUTCOME_PATH) and environ.get("REQUEST_METHOD") == "POST":
            return self._apply_outcome(path, environ, start_response)
        match = LAMBDA_INVOKE.match(path)
        if match and environ.get("REQUEST_METHOD") == "POST":
            return self._invoke(unquote(match.group("name")), environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "SageMaker.StopTrainingJob":
            return self._stop(_TRAINING, environ, start_response)
        if target == "SageMaker.StopTransformJob":
            return self._stop(_TRANSFORM, environ, start_response)
        if target in ("SageMaker.CreateTrainingJob", "SageMaker.CreateTransformJob"):
            return self._create(target, environ, start_response)
        return self.app(environ, start_response)

    def _body(self, environ: dict[str, Any]) -> bytes:
        return request_body(environ)

    # --- SageMaker jobs -------------------------------------------------------------------
    def _create(self, target: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        kind = _TRAINING if target.endswith("TrainingJob") else _TRANSFORM
        request = json.loads(self._body(environ) or b"{}")
        name = request.get("TrainingJobName" if kind == _TRAINING else "TransformJobName", "")
        backend, existing = _find_job(kind, name)
        if existing is not None:
            # moto would overwrite the job; AWS refuses a second job of the same name.
            return _validation_error(
                start_response, f"Job with name {name} already exists for this account."
            )
        captured: dict[str, str] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, capture))
        if int(captured.get("status", "500").split()[0]) >= 400:
            return chunks
        backend, job = _find_job(kind, name)
        if kind == _TRAINING:
            job.training_job_status, job.secondary_status = "InProgress", "Starting"
            job.training_end_time = None
            job.secondary_status_transitions = [
                {
                    "Status": "Starting",
                    "StartTime": job.creation_time,
                    "StatusMessage": _STATUS_MESSAGES["Starting"],
                }
            ]
            job.algorithm_specification.pop("MetricDefinitions", None)
            job.final_metric_data_list = None
        else:
            job.transform_job_status = "InProgress"
            job.transform_end_time = None
            job.failure_reason = None
        if not self.replaying:
            try:
                spec = self._spec(kind, request, backend, job)
            except Exception as exc:  # the job is created: it fails, the request does not
                log.exception("cannot start %s %s", kind, name)
                # (from a thread: this request still holds the journal's lock)
                threading.Thread(
                    target=self.record_outcome,
                    args=(kind, name, "Failed", f"InternalServerError: {exc}"),
                    daemon=True,
                ).start()
                return chunks
            threading.Thread(
                target=self._run, args=(kind, name, spec), name=f"{kind}-{name}", daemon=True
            ).start()
        return chunks

    def _spec(self, kind: str, request: dict[str, Any], backend: Any, job: Any) -> dict[str, Any]:
        spec = dict(request)
        if kind == _TRAINING:
            spec["TrainingJobArn"] = job.arn
        else:
            spec["TransformJobArn"] = job.arn
            from moto.sagemaker.exceptions import ValidationError

            try:
                model = backend.describe_model(request["ModelName"])
            except ValidationError:
                model = None
            container = (model.primary_container or (model.containers or [{}])[0]) if model else {}
            spec["ModelDataUrl"] = container.get("ModelDataUrl", "")
            spec["ModelEnvironment"] = container.get("Environment") or {}
        return spec

    def container_environment(self, region: str | None = None) -> dict[str, str]:
        """A container's environment: the emulator as its AWS endpoint, and credentials."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "AIRFLOW_CONN_", "MOTO_"))
        }
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DEFAULT_REGION": region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "AWS_REGION": region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                # the emulator's own credentials, handed on as a container's role would be
                "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            }
        )
        return env

    def _start_container(self, kind: str, workdir: Path, spec: dict[str, Any], region: str):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "result.json").unlink(missing_ok=True)
        (workdir / "spec.json").write_text(json.dumps(spec, default=str))
        return subprocess.Popen(
            [sys.executable, "-m", "image_mlops_dev.stack.job_containers", kind, str(workdir)],
            cwd=workdir,
            env=self.container_environment(region),
            stdout=open(workdir / "container.log", "ab"),
            stderr=subprocess.STDOUT,
            # In the emulator's process group: stopping the emulator (make down) ends it too.
        )

    def _run(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        arn = spec.get("TrainingJobArn") or spec.get("TransformJobArn")
        region = arn.split(":")[3]
        workdir = self.workdir / kind / name
        try:
            process = self._start_container(kind, workdir, spec, region)
        except OSError as exc:
            self.record_outcome(kind, name, "Failed", f"InternalServerError: {exc}")
            return
        running = _RunningJob(process, workdir)
        with self._lock:
            self._running[(kind, name)] = running
        limit = (spec.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        try:
            process.wait(timeout=float(limit) if limit else None)
        except subprocess.TimeoutExpired:
            running.stop_reason = (
                "MaxRuntimeExceeded",
                f"Training job runtime exceeded MaxRuntimeInSeconds provided ({limit} s)",
            )
            self._kill(process)
        with self._lock:
            self._running.pop((kind, name), None)
        if running.stop_reason is not None:
            secondary, reason = running.stop_reason
            self.record_outcome(kind, name, "Stopped", reason, secondary)
            return
        try:
            result = json.loads((workdir / "result.json").read_text())
        except (OSError, ValueError):
            result = {
                "status": "Failed",
                "failure_reason": f"InternalServerError: the job's process exited with "
                f"{process.returncode} without a result (see {workdir / 'container.log'})",
            }
        self.record_outcome(kind, name, result["status"], result.get("failure_reason"))

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        """SIGTERM (the container ends its program too), SIGKILL after 10 s, as SageMaker."""
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        """End every running container (the emulator is stopping)."""
        with self._lock:
            running = list(self._running.values())
        for job in running:
            self._kill(job.process)

    def _stop(self, kind: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        request = json.loads(self._body(environ) or b"{}")
        name = request.get("TrainingJobName" if kind == _TRAINING else "TransformJobName", "")
        _, job = _find_job(kind, name)
        if job is None:
            return _validation_error(start_response, f"Could not find job to stop: {name}")
        status_attr = "training_job_status" if kind == _TRAINING else "transform_job_status"
        if getattr(job, status_attr) not in ("InProgress", "Stopping"):
            return _validation_error(
                start_response,
                f"The job {name} is {getattr(job, status_attr)} and cannot be stopped.",
            )
        setattr(job, status_attr, "Stopping")
        if kind == _TRAINING:
            job.secondary_status = "Stopping"
        with self._lock:
            running = self._running.get((kind, name))
        if running is not None and not self.replaying:
            running.stop_reason = ("Stopped", "Stopped by StopTrainingJob/StopTransformJob")
            threading.Thread(target=self._kill, args=(running.process,), daemon=True).start()
        return _json_response(start_response, "200 OK", {})

    # --- outcomes (journaled) -----------------------------------------------------------
    def record_outcome(
        self,
        kind: str,
        name: str,
        status: str,
        reason: str | None = None,
        secondary: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Send the end of a job or execution through the journaling app."""
        body = json.dumps(
            {
                "status": status,
                "reason": reason,
                "secondary": secondary,
                "time": _now().isoformat(),
                **(extra or {}),
            }
        ).encode()
        from image_mlops_dev.stack.emulator import _environ_for  # (emulator imports us)

        header = {
            "method": "POST",
            "path": f"{OUTCOME_PATH}{kind}/{name}",
            "query": "",
            "headers": {"CONTENT_TYPE": "application/json"},
        }
        environ = _environ_for(header, body)
        list(self.outer(environ, lambda *a, **k: None))
        log.info("%s %s: %s %s", kind, name, status, reason or "")

    def _apply_outcome(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ):
        kind, _, name = path[len(OUTCOME_PATH) :].partition("/")
        outcome = json.loads(self._body(environ))
        when = dt.datetime.fromisoformat(outcome["time"])
        if kind == _EXECUTION:
            applied = _apply_execution_outcome(name, outcome, when)
        else:
            _, job = _find_job(kind, name)
            applied = job is not None
            if job is not None and kind == _TRAINING:
                job.training_job_status = outcome["status"]
                job.secondary_status = outcome.get("secondary") or outcome["status"]
                job.training_end_time = job.last_modified_time = when
                job.failure_reason = (
                    outcome.get("reason") if outcome["status"] != "Completed" else None
                )
                transitions = [dict(t) for t in job.secondary_status_transitions or []]
                if transitions:
                    transitions[-1].setdefault("EndTime", when)
                transitions.append(
                    {
                        "Status": job.secondary_status,
                        "StartTime": when,
                        "EndTime": when,
                        "StatusMessage": _STATUS_MESSAGES.get(job.secondary_status, "")
                        + (f" Reason: {job.failure_reason}" if job.failure_reason else ""),
                    }
                )
                job.secondary_status_transitions = transitions
            elif job is not None:
                job.transform_job_status = outcome["status"]
                job.transform_end_time = job.last_modified_time = when
                job.failure_reason = (
                    outcome.get("reason") if outcome["status"] != "Completed" else None
                )
        if not applied:
            return _validation_error(start_response, f"no {kind} named {name}")
        return _json_response(start_response, "200 OK", {})

    def end_ghosts(self) -> int:
        """After replay: what was running when the emulator stopped ends, with a reason."""
        count = 0
        for backend in list(_sagemaker_backends()):
            for name, job in list(backend.training_jobs.items()):
                if job.training_job_status in ("InProgress", "Stopping"):
                    stopped = job.training_job_status == "Stopping"
                    self.record_outcome(
                        _TRAINING,
                        name,
                        "Stopped" if stopped else "Failed",
                        GHOST_REASON.format(what="training job"),
                    )
                    count += 1
            for name, job in list(backend.transform_jobs.items()):
                if job.transform_job_status in ("InProgress", "Stopping"):
                    self.record_outcome(
                        _TRANSFORM, name, "Failed", GHOST_REASON.format(what="transform job")
                    )
                    count += 1
        for arn in _running_executions():
            self.record_outcome(
                _EXECUTION,
                arn,
                "ABORTED",
                GHOST_REASON.format(what="execution"),
                extra={"error": "States.Runtime"},
            )
            count += 1
        return count

    # --- Lambda ---------------------------------------------------------------------------
    def _invoke(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.models import lambda_backends

        payload = self._body(environ)
        qualifier = dict(
            p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p
        ).get("Qualifier")
        function = None
        for per_region in lambda_backends.values():
            for backend in per_region.values():
                try:
                    function = backend.get_function(name, qualifier)
                    break
                except LambdaClientError:
                    continue
            if function is not None:
                break
        if function is None:
            body = json.dumps(
                {"__type": "ResourceNotFoundException", "Message": f"Function not found: {name}"}
            ).encode()
            start_response(
                "404 Not Found",
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-ErrorType", "ResourceNotFoundException"),
                ],
            )
            return [body]
        invocation = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if invocation == "DryRun":
            start_response("204 No Content", [])
            return [b""]
        if not (function.run_time or "").startswith("python"):
            return _json_response(
                start_response,
                "400 Bad Request",
                {
                    "__type": "InvalidRuntimeException",
                    "Message": "the local emulator runs Python functions only, "
                    f"not {function.run_time}",
                },
            )
        request_id = str(uuid.uuid4())
        spec = {
            "FunctionName": function.function_name,
            "FunctionArn": function.function_arn,
            "Handler": function.handler,
            "Timeout": function.timeout,
            "MemorySize": function.memory_size,
            "Environment": dict(function.environment_vars or {}),
            "RequestId": request_id,
            "CodeDir": str(self._unpack_code(function)),
            "Payload": payload.decode("utf-8") if payload else "null",
        }
        workdir = self.workdir / "lambda" / request_id
        if invocation == "Event":
            threading.Thread(
                target=self._run_invocation, args=(workdir, spec, function.region), daemon=True
            ).start()
            start_response("202 Accepted", [("x-amzn-RequestId", request_id)])
            return [b""]
        result = self._run_invocation(workdir, spec, function.region)
        body = result["payload"].encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if result["status"] != "ok":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
            headers.append(("X-Amz-Log-Result", result.get("log_tail", "")))
        start_response("200 OK", headers)
        return [body]

    def _unpack_code(self, function: Any) -> Path:
        digest = hashlib.sha256(function.code_bytes).hexdigest()[:16]
        target = self.workdir / "lambda-code" / f"{function.function_name}-{digest}"
        if not (target / ".unpacked").exists():
            tmp = target.with_name(target.name + f".tmp-{uuid.uuid4().hex[:6]}")
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(tmp)
            (tmp / ".unpacked").write_text("ok")
            try:
                tmp.rename(target)
            except OSError:  # another invocation unpacked it first
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _run_invocation(self, workdir: Path, spec: dict[str, Any], region: str) -> dict[str, Any]:
        import shutil

        process = self._start_container("lambda", workdir, spec, region)
        process.wait()
        try:
            return json.loads((workdir / "result.json").read_text())
        except (OSError, ValueError):
            return {
                "status": "error",
                "payload": json.dumps(
                    {
                        "errorMessage": "the invocation ended without a result",
                        "errorType": "Runtime.ExitError",
                    }
                ),
            }
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# --- Step Functions executions -----------------------------------------------------------------
_jobs: EmulatorJobs | None = None


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


class _Boto3WithEmulatorKey:
    """``boto3`` for moto's state machine interpreter: its clients sign with the emulator's
    key (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``) instead of moto's fixed one."""

    @staticmethod
    def client(*args: Any, **kwargs: Any) -> Any:
        import boto3

        kwargs["aws_access_key_id"] = os.environ["AWS_ACCESS_KEY_ID"]
        kwargs["aws_secret_access_key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
        return boto3.client(*args, **kwargs)


def enable_executions(jobs: EmulatorJobs, port: int) -> None:
    """Step Functions executions run, and their end is journaled (see the module docstring)."""
    global _jobs
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution as parser_execution

    _jobs = jobs
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    # moto's interpreter calls Lambda (and other services) at localhost:$MOTO_PORT, signed
    # with a fixed key ("ak"); the emulator accepts only its own, which a state machine's
    # role would hand its tasks on AWS
    os.environ["MOTO_PORT"] = str(port)
    from moto.stepfunctions.parser.asl.utils import boto_client

    boto_client.boto3 = _Boto3WithEmulatorKey()
    if getattr(parser_execution.Execution, "_image_mlops_patched", False):
        return
    original_start = parser_execution.Execution.start
    original_terminated = parser_execution.BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        if _jobs is not None and _jobs.replaying:
            self.exec_status = ExecutionStatus.RUNNING  # its journaled outcome follows
            return
        original_start(self)

    def terminated(self: Any) -> None:
        original_terminated(self)
        execution = self.execution
        if _jobs is not None:
            output = execution.output
            _jobs.record_outcome(
                _EXECUTION,
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

    parser_execution.Execution.start = start
    parser_execution.BaseExecutionWorkerCommunication.terminated = terminated
    parser_execution.Execution._image_mlops_patched = True
