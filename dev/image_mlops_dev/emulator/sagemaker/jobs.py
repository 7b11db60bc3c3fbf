"""SageMaker training and transform jobs run: one container process per job.

moto records a SageMaker job as ``Completed`` the moment it is created, without running
anything, and has no ``StopTrainingJob``/``StopTransformJob``. This WSGI layer, in front of
moto:

* ``CreateTrainingJob`` / ``CreateTransformJob``: moto records the job, the layer makes it
  ``InProgress`` and runs it in a container process (:mod:`image_mlops_dev.emulator.containers`);
  when the process ends the job becomes ``Completed``, ``Failed`` (with its
  ``FailureReason``) or ``Stopped``. ``MaxRuntimeInSeconds`` stops a training job
  (``Stopped``, secondary status ``MaxRuntimeExceeded``), as on AWS;
* ``StopTrainingJob`` / ``StopTransformJob``: ``Stopping``, the process is ended, ``Stopped``.

Durability: a job's end is itself a request, ``POST /_emulator/outcomes/<kind>/<name>``,
sent through the journaling app, so the journal holds it and replay restores it. Replayed
creations do not run again. After replay, a job with no recorded end (the emulator stopped
while it ran) ends as ``Failed`` with a reason saying so, never as a ghost ``InProgress``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from image_mlops_dev.emulator.http.wsgi import WsgiApp, buffered_body, json_response
from image_mlops_dev.emulator.platform import OUTCOME_PATH, Platform
from image_mlops_dev.emulator.sagemaker.backends import (
    TRAINING,
    TRANSFORM,
    find_job,
    sagemaker_backends,
)

log = logging.getLogger("image_mlops.emulator.jobs")
#: The service principal SageMaker assumes execution roles as.
SAGEMAKER = "sagemaker.amazonaws.com"

GHOST_REASON = (
    "The local emulator stopped while this {what} was running (make down, or a crash); "
    "its result was lost. Start it again."
)
#: SageMaker's messages for a training job's secondary statuses (SecondaryStatusTransitions).
_STATUS_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Completed": "Training job completed",
    "Failed": "Training job failed.",
    "Stopped": "Training job stopped by user request.",
    "MaxRuntimeExceeded": "Training job stopped: it reached MaxRuntimeInSeconds.",
}


def _validation_error(start_response: Callable[..., Any], message: str) -> list[bytes]:
    return json_response(
        start_response, "400 Bad Request", {"__type": "ValidationException", "message": message}
    )


class _RunningJob:
    def __init__(self, process: subprocess.Popen, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.stop_reason: tuple[str, str] | None = None  # (secondary status, reason)


class SageMakerJobs:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self._running: dict[tuple[str, str], _RunningJob] = {}
        self._lock = threading.Lock()

    # --- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(OUTCOME_PATH) and environ.get("REQUEST_METHOD") == "POST":
            kind = path[len(OUTCOME_PATH) :].partition("/")[0]
            if kind in (TRAINING, TRANSFORM):
                return self._apply_outcome(path, environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "SageMaker.StopTrainingJob":
            return self._stop(TRAINING, environ, start_response)
        if target == "SageMaker.StopTransformJob":
            return self._stop(TRANSFORM, environ, start_response)
        if target in ("SageMaker.CreateTrainingJob", "SageMaker.CreateTransformJob"):
            return self._create(target, environ, start_response)
        return self.app(environ, start_response)

    # --- SageMaker jobs -------------------------------------------------------------------
    def _create(self, target: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        kind = TRAINING if target.endswith("TrainingJob") else TRANSFORM
        request = json.loads(buffered_body(environ) or b"{}")
        name = request.get("TrainingJobName" if kind == TRAINING else "TransformJobName", "")
        backend, existing = find_job(kind, name)
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
        backend, job = find_job(kind, name)
        if kind == TRAINING:
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
        if not self.platform.replaying:
            try:
                spec = self._spec(kind, request, backend, job)
            except Exception as exc:  # the job is created: it fails, the request does not
                log.exception("cannot start %s %s", kind, name)
                # (from a thread: this request still holds the journal's lock)
                threading.Thread(
                    target=self.platform.record_outcome,
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
        if kind == TRAINING:
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
            spec["ModelImage"] = container.get("Image", "")
            # a transform job runs as its model's execution role
            spec["RoleArn"] = getattr(model, "execution_role_arn", "") if model else ""
        return spec

    def credentials_for(self, spec: dict[str, Any]) -> dict[str, str]:
        """The credentials a job's container runs with: its execution role's, as SageMaker
        hands them to the container."""
        return self.platform.role_environment(spec.get("RoleArn", ""), SAGEMAKER, "SageMaker")

    def _run(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        arn = spec.get("TrainingJobArn") or spec.get("TransformJobArn")
        region = arn.split(":")[3]
        workdir = self.platform.workdir / kind / name
        try:
            env = self.platform.container_environment(region, self.credentials_for(spec))
            process = self.platform.start_container(kind, workdir, spec, env)
        except PermissionError as exc:
            self.platform.record_outcome(kind, name, "Failed", f"ClientError: {exc}")
            return
        except OSError as exc:
            self.platform.record_outcome(kind, name, "Failed", f"InternalServerError: {exc}")
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
            self.platform.record_outcome(kind, name, "Stopped", reason, secondary)
            return
        try:
            result = json.loads((workdir / "result.json").read_text())
        except (OSError, ValueError):
            result = {
                "status": "Failed",
                "failure_reason": f"InternalServerError: the job's process exited with "
                f"{process.returncode} without a result (see {workdir / 'container.log'})",
            }
        self.platform.record_outcome(kind, name, result["status"], result.get("failure_reason"))

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
        request = json.loads(buffered_body(environ) or b"{}")
        name = request.get("TrainingJobName" if kind == TRAINING else "TransformJobName", "")
        _, job = find_job(kind, name)
        if job is None:
            return _validation_error(start_response, f"Could not find job to stop: {name}")
        status_attr = "training_job_status" if kind == TRAINING else "transform_job_status"
        if getattr(job, status_attr) not in ("InProgress", "Stopping"):
            return _validation_error(
                start_response,
                f"The job {name} is {getattr(job, status_attr)} and cannot be stopped.",
            )
        setattr(job, status_attr, "Stopping")
        if kind == TRAINING:
            job.secondary_status = "Stopping"
        with self._lock:
            running = self._running.get((kind, name))
        if running is not None and not self.platform.replaying:
            running.stop_reason = ("Stopped", "Stopped by StopTrainingJob/StopTransformJob")
            threading.Thread(target=self._kill, args=(running.process,), daemon=True).start()
        return json_response(start_response, "200 OK", {})

    # --- outcomes (journaled) -----------------------------------------------------------
    def _apply_outcome(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ):
        kind, _, name = path[len(OUTCOME_PATH) :].partition("/")
        outcome = json.loads(buffered_body(environ))
        when = dt.datetime.fromisoformat(outcome["time"])
        _, job = find_job(kind, name)
        applied = job is not None
        if job is not None and kind == TRAINING:
            job.training_job_status = outcome["status"]
            job.secondary_status = outcome.get("secondary") or outcome["status"]
            job.training_end_time = job.last_modified_time = when
            job.failure_reason = outcome.get("reason") if outcome["status"] != "Completed" else None
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
            job.failure_reason = outcome.get("reason") if outcome["status"] != "Completed" else None
        if not applied:
            return _validation_error(start_response, f"no {kind} named {name}")
        return json_response(start_response, "200 OK", {})

    def end_ghosts(self) -> int:
        """After replay: what was running when the emulator stopped ends, with a reason."""
        count = 0
        for backend in list(sagemaker_backends()):
            for name, job in list(backend.training_jobs.items()):
                if job.training_job_status in ("InProgress", "Stopping"):
                    stopped = job.training_job_status == "Stopping"
                    self.platform.record_outcome(
                        TRAINING,
                        name,
                        "Stopped" if stopped else "Failed",
                        GHOST_REASON.format(what="training job"),
                    )
                    count += 1
            for name, job in list(backend.transform_jobs.items()):
                if job.transform_job_status in ("InProgress", "Stopping"):
                    self.platform.record_outcome(
                        TRANSFORM, name, "Failed", GHOST_REASON.format(what="transform job")
                    )
                    count += 1
        return count
