"""The emulator hosts SageMaker endpoints: one model-server process per production variant.

moto records an endpoint as ``InService`` the moment it is created and answers
``InvokeEndpoint`` with canned bodies. This WSGI layer, in front of it, does what SageMaker
does with the records:

* ``CreateEndpoint``: moto records the endpoint, the layer makes it ``Creating`` and starts
  one model server per production variant of its configuration (``python -m
  image_mlops_dev.emulator.containers serving <workdir>``: the artifact's approved version,
  checked against its sha256, served by the model's image's own server in its container
  profile); ``InService`` when every server answers ``GET /ping`` (the wait starts after a
  profile's first build), ``Failed`` with a ``FailureReason`` when one cannot start;
* ``UpdateEndpoint`` (blue/green): the endpoint stays on its old configuration, ``Updating``,
  while the old fleet keeps serving and the new one starts. A new fleet that cannot start
  rolls the update back: ``InService`` on the old configuration with the reason in
  ``FailureReason``, as on AWS. Once the new fleet answers ``/ping``, traffic shifts to it
  as the ``DeploymentConfig``'s ``TrafficRoutingConfiguration`` says: ``ALL_AT_ONCE``, or
  ``CANARY`` (``CanarySize`` of the new fleet's capacity first, then the rest) or ``LINEAR``
  (``LinearStepSize`` per step); after each shift the update bakes for
  ``WaitIntervalInSeconds`` watching the ``AutoRollbackConfiguration`` alarms. An alarm in
  ``ALARM`` during a step, or ``MaximumExecutionTimeoutInSeconds`` passing, rolls traffic
  back to the old fleet: ``InService`` on the old configuration, the reason in
  ``FailureReason``. ``DescribeEndpoint`` shows the steps as AWS does, in
  ``PendingDeploymentSummary`` (variant status ``Creating``, then ``Baking`` with the step
  and its share of traffic). A shifted share of traffic goes to the new fleet by chance, in
  proportion, whatever the instance count (one model server stands for a variant's
  instances). The old fleet stops when the update completes (``TerminationWaitInSeconds``
  is not waited). (A rollback alarm already in ``ALARM`` refuses the update at once, and a
  canary or step smaller than one instance or over half the fleet is refused:
  :mod:`image_mlops_dev.emulator.sagemaker.updates`.);
* ``DeleteEndpoint`` stops the endpoint's servers;
* ``sagemaker-runtime InvokeEndpoint`` (``POST /endpoints/<name>/invocations``) is forwarded
  to a server of the endpoint (``TargetVariant``, else by variant weight); the answer carries
  ``x-Amzn-Invoked-Production-Variant``; a model error is ``ModelError`` (HTTP 424) with the
  server's status and message, as on AWS. Invocations are not journaled; their metrics and
  captured data are written as SageMaker writes them
  (:mod:`image_mlops_dev.emulator.sagemaker.invocations`).

Durability: an endpoint's settling (``InService``/``Failed``, the configuration it serves)
is journaled as ``POST /_emulator/outcomes/endpoint/<name>``, like a job's end. After replay
(``make up``) every endpoint's fleet starts again; an endpoint that was ``Creating`` goes on
creating, one that was ``Updating`` is rolled back to the configuration it served. An
invocation that arrives while a restored fleet is still loading waits for it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from image_mlops_dev.emulator.containers import invoke_model_server, ping
from image_mlops_dev.emulator.http.wsgi import WsgiApp, buffered_body, passing
from image_mlops_dev.emulator.platform import OUTCOME_PATH, Platform
from image_mlops_dev.emulator.sagemaker.backends import sagemaker_backends
from image_mlops_dev.emulator.sagemaker.invocations import InvocationRecords
from image_mlops_dev.emulator.sagemaker.traffic import instance_count, traffic_steps
from image_mlops_dev.emulator.sagemaker.updates import ROLLED_BACK_BY_ALARM, alarm_state

log = logging.getLogger("image_mlops.emulator.endpoints")

OUTCOME_PREFIX = f"{OUTCOME_PATH}endpoint/"
INVOKE_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations/?$")
#: How long a model server may take to load before the fleet counts as failed.
START_TIMEOUT_SECONDS = 120.0
#: How long an invocation waits for a fleet that is (re)starting.
INVOKE_WAIT_SECONDS = 60.0
RESTART_REASON = "The local emulator stopped while this endpoint was updating; update rolled back."
#: How often a baking update reads its rollback alarms.
BAKE_POLL_SECONDS = 0.25


def is_endpoint_invoke(environ: dict[str, Any]) -> bool:
    """``InvokeEndpoint``: the runtime API's path, signed for the ``sagemaker`` service."""
    if environ.get("REQUEST_METHOD") != "POST":
        return False
    if not INVOKE_PATH.match(environ.get("PATH_INFO", "")):
        return False
    scope = environ.get("HTTP_AUTHORIZATION", "")
    return "/sagemaker/aws4_request" in scope or environ.get("HTTP_HOST", "").startswith(
        "runtime.sagemaker."
    )


def _sagemaker_backend_of(endpoint_name: str) -> tuple[Any, Any]:
    for backend in sagemaker_backends():
        if endpoint_name in backend.endpoints:
            return backend, backend.endpoints[endpoint_name]
    return None, None


def _rolled_back_at_once(endpoint: Any) -> bool:
    """The update met a rollback alarm in ALARM (the updates module decided at once)."""
    return (endpoint.failure_reason or "").startswith(ROLLED_BACK_BY_ALARM)


def _error(start_response: Callable[..., Any], status: str, kind: str, message: str, **extra):
    body = json.dumps({"message": message, **extra}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", kind),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [body]


class ModelServer:
    """One model-server process of a variant."""

    def __init__(self, variant: dict[str, Any], workdir: Path) -> None:
        self.variant = variant
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.ready = threading.Event()
        self.error: str | None = None

    @property
    def name(self) -> str:
        return self.variant["VariantName"]

    def start(self, spec: dict[str, Any], environment: dict[str, str]) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        (self.workdir / "spec.json").write_text(json.dumps(spec))
        with open(self.workdir / "container.log", "ab") as output:  # the child keeps it open
            self.process = subprocess.Popen(
                [sys.executable, "-m", "image_mlops_dev.emulator.containers", "serving", "."],
                cwd=self.workdir,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> str | None:
        """Wait until ``/ping`` answers 200; returns None, or why the server is not serving."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.workdir / "image-building").exists():  # the wait counts from the build's end
                deadline = time.monotonic() + timeout
            if self.process is None:
                self.error = "the model server was not started"
                return self.error
            if self.process.poll() is not None:
                self.error = self._exit_reason()
                return self.error
            if self.port is None and (self.workdir / "port").exists():
                self.port = int((self.workdir / "port").read_text())
            if self.port is not None and ping(self.port):
                self.ready.set()
                return None
            time.sleep(0.1)
        self.error = f"the model server did not answer /ping within {timeout:.0f} s"
        self.stop()
        return self.error

    def _exit_reason(self) -> str:
        try:
            result = json.loads((self.workdir / "result.json").read_text())
            return result.get("failure_reason") or "the model server exited"
        except (OSError, ValueError):
            return (
                f"the model server exited with {self.process.returncode} "
                f"(see {self.workdir / 'container.log'})"
            )

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        return invoke_model_server(self.port, body, headers, timeout=60)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 10 s."""
        self.ready.clear()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Fleet:
    """The model servers of one endpoint configuration."""

    def __init__(self, config_name: str, servers: list[ModelServer]) -> None:
        self.config_name = config_name
        self.servers = servers

    def wait_ready(self) -> str | None:
        for server in self.servers:
            reason = server.wait_ready()
            if reason is not None:
                return f"variant {server.name}: {reason}"
        return None

    def pick(self, target_variant: str | None) -> ModelServer | None:
        if target_variant:
            return next((s for s in self.servers if s.name == target_variant), None)
        weights = [float(s.variant.get("InitialVariantWeight", 1.0)) for s in self.servers]
        if not self.servers or sum(weights) <= 0:
            return self.servers[0] if self.servers else None
        return random.choices(self.servers, weights=weights)[0]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class SageMakerEndpoints:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.workdir = platform.workdir
        self._fleets: dict[str, Fleet] = {}  # endpoint → the fleet serving it
        self._pending: dict[str, Fleet] = {}  # endpoint → the fleet an update is starting
        #: endpoint → the new fleet of an update and the share of traffic shifted to it
        self._shifting: dict[str, tuple[Fleet, float]] = {}
        self._lock = threading.Lock()
        self.invocations = InvocationRecords(platform)

    # --- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if is_endpoint_invoke(environ):
            name = unquote(INVOKE_PATH.match(path).group("name"))
            return self._invoke(name, environ, start_response)
        if path.startswith(OUTCOME_PREFIX) and environ.get("REQUEST_METHOD") == "POST":
            return self._apply_outcome(path[len(OUTCOME_PREFIX) :], environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "SageMaker.CreateEndpoint":
            return self._create(environ, start_response)
        if target == "SageMaker.UpdateEndpoint":
            return self._update(environ, start_response)
        if target == "SageMaker.DeleteEndpoint":
            return self._delete(environ, start_response)
        return self.app(environ, start_response)

    def _pass(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        """moto's answer, and whether it succeeded."""
        return passing(self.app, environ, start_response)

    @staticmethod
    def _request(environ: dict[str, Any]) -> dict[str, Any]:
        return json.loads(buffered_body(environ) or b"{}")

    # --- control plane ------------------------------------------------------------------
    def _create(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        name = self._request(environ).get("EndpointName", "")
        chunks, ok = self._pass(environ, start_response)
        if not ok:
            return chunks
        _backend, endpoint = _sagemaker_backend_of(name)
        endpoint.endpoint_status = "Creating"
        if not self.platform.replaying:
            config = endpoint.endpoint_config_name
            threading.Thread(target=self._settle_creation, args=(name, config), daemon=True).start()
        return chunks

    def _update(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        request = self._request(environ)
        name, wanted = request.get("EndpointName", ""), request.get("EndpointConfigName", "")
        _backend, endpoint = _sagemaker_backend_of(name)
        before = (
            (endpoint.endpoint_config_name, endpoint.production_variants)
            if endpoint is not None
            else None
        )
        chunks, ok = self._pass(environ, start_response)
        if not ok or endpoint is None or _rolled_back_at_once(endpoint):
            return chunks  # refused, or rolled back at once by an alarm in ALARM
        # Blue/green: the old configuration serves until the new fleet is up.
        endpoint.endpoint_config_name, endpoint.production_variants = before
        endpoint.endpoint_status = "Updating"
        if not self.platform.replaying:
            deployment = request.get("DeploymentConfig") or {}
            threading.Thread(
                target=self._settle_update, args=(name, before[0], wanted, deployment), daemon=True
            ).start()
        return chunks

    def _delete(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        name = self._request(environ).get("EndpointName", "")
        chunks, ok = self._pass(environ, start_response)
        if ok:
            with self._lock:
                self._shifting.pop(name, None)
                fleets = [self._fleets.pop(name, None), self._pending.pop(name, None)]
            for fleet in fleets:
                if fleet is not None:
                    threading.Thread(target=fleet.stop, daemon=True).start()
        return chunks

    # --- fleets -------------------------------------------------------------------------
    def _start_fleet(self, endpoint_name: str, config_name: str) -> Fleet:
        from moto.sagemaker.exceptions import ValidationError

        backend, _ = _sagemaker_backend_of(endpoint_name)
        config = backend.endpoint_configs[config_name]
        servers = []
        for variant in config.production_variants:
            server = ModelServer(
                variant,
                self.workdir
                / "endpoints"
                / endpoint_name
                / f"{config_name}-{variant['VariantName']}",
            )
            servers.append(server)
            try:
                model = backend.describe_model(variant["ModelName"])
            except ValidationError:
                server.error = f"model {variant['ModelName']} does not exist"
                continue
            container = model.primary_container or (model.containers or [{}])[0]
            spec = {
                "EndpointName": endpoint_name,
                "VariantName": variant["VariantName"],
                "Image": container.get("Image", ""),
                "ModelDataUrl": container.get("ModelDataUrl", ""),
                "Environment": dict(container.get("Environment") or {}),
            }
            try:
                env = self.platform.container_environment(
                    backend.region_name, self.credentials_for(model)
                )
                server.start(spec, env)
            except PermissionError as exc:
                server.error = f"the model's execution role cannot be assumed: {exc}"
            except OSError as exc:
                server.error = f"the model server could not start: {exc}"
        return Fleet(config_name, servers)

    def _ready_or_reason(self, fleet: Fleet) -> str | None:
        failed = next((s for s in fleet.servers if s.error), None)
        if failed is not None:
            return f"variant {failed.name}: {failed.error}"
        return fleet.wait_ready()

    def _start_pending(self, name: str, config_name: str) -> tuple[Fleet, str | None]:
        """Start the fleet an endpoint is getting; returns it and why it is not serving."""
        fleet = self._start_fleet(name, config_name)
        with self._lock:
            self._pending[name] = fleet
        return fleet, self._ready_or_reason(fleet)

    def _settle_creation(self, name: str, config_name: str) -> None:
        fleet, reason = self._start_pending(name, config_name)
        if reason is None:
            self._record(name, "InService", config_name)
        else:
            fleet.stop()
            self._record(name, "Failed", config_name, f"Endpoint creation failed: {reason}")

    def _settle_update(
        self, name: str, old_config: str, new_config: str, deployment: dict[str, Any]
    ) -> None:
        started = time.monotonic()
        self._summarise(name, new_config, "Creating", "Starting the new fleet.")
        fleet, reason = self._start_pending(name, new_config)
        if reason is None:
            reason = self._shift_traffic(name, new_config, fleet, deployment, started)
            if reason is None:
                self._record(name, "InService", new_config)
                return
            with self._lock:
                self._shifting.pop(name, None)
            fleet.stop()
            self._record(name, "InService", old_config, reason)
            return
        fleet.stop()
        with self._lock:
            serving = name in self._fleets
        if serving:
            self._record(
                name,
                "InService",
                old_config,
                f"Update rolled back: the new fleet failed its health check ({reason}).",
            )
        else:
            self._record(name, "Failed", new_config, f"Endpoint update failed: {reason}")

    def _shift_traffic(
        self,
        name: str,
        new_config: str,
        fleet: Fleet,
        deployment: dict[str, Any],
        started: float,
    ) -> str | None:
        """Shift traffic to ``fleet`` step by step, baking after each; None when all of it is
        on the new fleet, else why the update rolls back."""
        backend, endpoint = _sagemaker_backend_of(name)
        if endpoint is None:
            return "the endpoint was deleted during the update"
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE"}
        wait = float(routing.get("WaitIntervalInSeconds", 0))
        deadline = started + float(policy.get("MaximumExecutionTimeoutInSeconds", 14400))
        alarms = [
            a["AlarmName"]
            for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        ]
        count = instance_count(backend.endpoint_configs[new_config].production_variants)
        steps = traffic_steps(routing, count)
        with self._lock:
            serving = name in self._fleets
        if not serving:  # nothing to shift from (the endpoint had failed): switch at once
            steps = [1.0]
        for number, share in enumerate(steps, start=1):
            label = f"step {number} of {len(steps)}: {share:.0%} of traffic on the new fleet"
            with self._lock:
                self._shifting[name] = (fleet, share)
            self._summarise(
                name, new_config, "Baking", f"Baking {label} for {wait:.0f} s ({routing['Type']})."
            )
            reason = self._bake(backend, alarms, wait, deadline)
            if reason is not None:
                return f"{reason} (at {label})."
        return None

    def _bake(self, backend: Any, alarms: list[str], seconds: float, deadline: float) -> str | None:
        """Watch ``alarms`` for ``seconds``; None, or why the update must roll back."""
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
        end = time.monotonic() + seconds
        while True:
            firing = [a for a in alarms if alarm_state(cloudwatch, a) == "ALARM"]
            if firing:
                return f"{ROLLED_BACK_BY_ALARM} {', '.join(firing)} in ALARM during deployment"
            if time.monotonic() > deadline:
                return "Update rolled back: MaximumExecutionTimeoutInSeconds passed"
            if time.monotonic() >= end:
                return None
            time.sleep(BAKE_POLL_SECONDS)

    def _summarise(self, name: str, config: str, status: str, message: str) -> None:
        """``PendingDeploymentSummary`` of an update, as DescribeEndpoint shows it on AWS."""
        from moto.core.utils import utcnow

        backend, endpoint = _sagemaker_backend_of(name)
        if endpoint is None or config not in backend.endpoint_configs:
            return
        now = utcnow()
        summary = getattr(endpoint, "pending_deployment_summary", None) or {
            "EndpointConfigName": config,
            "StartTime": now,
        }
        summary["ProductionVariants"] = [
            {
                "VariantName": variant["VariantName"],
                "DesiredInstanceCount": int(variant.get("InitialInstanceCount", 1)),
                "InstanceType": variant.get("InstanceType", ""),
                "VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": now}],
            }
            for variant in backend.endpoint_configs[config].production_variants
        ]
        endpoint.pending_deployment_summary = summary

    def credentials_for(self, model: Any) -> dict[str, str]:
        """The credentials a model's container runs with: its execution role's."""
        return self.platform.role_environment(
            model.execution_role_arn, "sagemaker.amazonaws.com", "SageMaker"
        )

    def _record(self, name: str, status: str, config: str, reason: str | None = None) -> None:
        self.platform.record_outcome("endpoint", name, status, reason, extra={"config": config})

    def _apply_outcome(self, name: str, environ: dict[str, Any], start_response):
        outcome = self._request(environ)
        backend, endpoint = _sagemaker_backend_of(unquote(name))
        if endpoint is None:
            return _error(start_response, "400 Bad Request", "ValidationException", f"no {name}")
        config = outcome["config"]
        if endpoint.endpoint_config_name != config and config in backend.endpoint_configs:
            endpoint.endpoint_config_name = config
            endpoint.production_variants = endpoint._process_production_variants(
                backend.endpoint_configs[config].production_variants
            )
        endpoint.endpoint_status = outcome["status"]
        endpoint.failure_reason = outcome.get("reason")
        endpoint.pending_deployment_summary = None
        if not self.platform.replaying:
            with self._lock:
                self._shifting.pop(endpoint.endpoint_name, None)
                pending = self._pending.pop(endpoint.endpoint_name, None)
                retired = None
                if pending is not None and pending.config_name == config:
                    if outcome["status"] == "InService":
                        retired = self._fleets.get(endpoint.endpoint_name)
                        self._fleets[endpoint.endpoint_name] = pending
                    else:
                        retired = pending
                elif pending is not None:
                    retired = pending
            if retired is not None:
                threading.Thread(target=retired.stop, daemon=True).start()
        body = b"{}"
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def restore(self) -> int:
        """After replay: start every endpoint's fleet again (see the module docstring)."""
        from moto.sagemaker.models import sagemaker_backends

        count = 0
        for per_region in sagemaker_backends.values():
            for backend in per_region.values():
                for name, endpoint in list(backend.endpoints.items()):
                    status, config = endpoint.endpoint_status, endpoint.endpoint_config_name
                    if status == "Creating":
                        threading.Thread(
                            target=self._settle_creation, args=(name, config), daemon=True
                        ).start()
                    elif status in ("InService", "Updating"):
                        if status == "Updating":
                            self._record(name, "InService", config, RESTART_REASON)
                        fleet = self._start_fleet(name, config)
                        with self._lock:
                            self._fleets[name] = fleet
                        threading.Thread(target=fleet.wait_ready, daemon=True).start()
                    else:
                        continue
                    count += 1
        return count

    def stop_all(self) -> None:
        with self._lock:
            fleets = [*self._fleets.values(), *self._pending.values()]
            self._fleets.clear()
            self._pending.clear()
            self._shifting.clear()
        for fleet in fleets:
            fleet.stop()

    def _observe(
        self,
        backend: Any,
        name: str,
        fleet: Fleet,
        server: ModelServer,
        status: int,
        started: float,
        request: tuple[bytes, dict[str, str]],
        answer: bytes,
        content_type: str = "",
    ) -> None:
        """Report an invocation for the endpoint's metrics and, when enabled, data capture."""
        config = backend.endpoint_configs.get(fleet.config_name)
        body, headers = request
        from moto.sagemaker.exceptions import ValidationError

        try:  # data capture writes as the model's execution role
            role = backend.describe_model(server.variant.get("ModelName", "")).execution_role_arn
        except ValidationError:  # the model was deleted since the endpoint started
            role = ""
        self.invocations.record(
            region=backend.region_name,
            role=role or "",
            endpoint=name,
            variant=server.name,
            status=status,
            latency_us=1_000_000 * (time.monotonic() - started),
            capture=getattr(config, "data_capture_config", None),
            request=(body, headers["Content-Type"]),
            response=(answer, content_type or "application/json"),
        )

    # --- runtime ------------------------------------------------------------------------
    def _invoke(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        body = buffered_body(environ)
        _backend, endpoint = _sagemaker_backend_of(name)
        if endpoint is None:
            return _error(
                start_response,
                "400 Bad Request",
                "ValidationError",
                f"Endpoint {name} of account 123456789012 not found.",
            )
        with self._lock:
            fleet = self._fleets.get(name)
            shifting = self._shifting.get(name)
        if fleet is not None and shifting is not None and random.random() < shifting[1]:
            fleet = shifting[0]
        if fleet is None:
            return _error(
                start_response,
                "400 Bad Request",
                "ValidationError",
                f"Endpoint {name} is {endpoint.endpoint_status}: it cannot be invoked until it "
                "is InService.",
            )
        server = fleet.pick(environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"))
        if server is None:
            return _error(
                start_response,
                "400 Bad Request",
                "ValidationError",
                f"Endpoint {name} has no variant "
                f"{environ.get('HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT')}.",
            )
        if not server.ready.wait(INVOKE_WAIT_SECONDS):
            return _error(
                start_response,
                "424 Failed Dependency",
                "ModelNotReadyException",
                f"Model server of variant {server.name} of endpoint {name} is not ready: "
                f"{server.error or 'still loading'}",
            )
        headers = {
            "Content-Type": environ.get("CONTENT_TYPE") or "application/octet-stream",
            "Accept": environ.get("HTTP_ACCEPT") or "application/json",
        }
        started = time.monotonic()
        try:
            status, answer, content_type = server.invoke(body, headers)
        except OSError as exc:
            self._observe(_backend, name, fleet, server, 500, started, (body, headers), b"")
            return _error(
                start_response,
                "424 Failed Dependency",
                "ModelError",
                f'Received server error (0) from {server.name} with message "{exc}".',
                OriginalStatusCode=0,
                OriginalMessage=str(exc),
            )
        self._observe(
            _backend, name, fleet, server, status, started, (body, headers), answer, content_type
        )
        if status != 200:
            text = answer.decode("utf-8", "replace")
            kind = "client" if status < 500 else "server"
            return _error(
                start_response,
                "424 Failed Dependency",
                "ModelError",
                f'Received {kind} error ({status}) from {server.name} with message "{text}". '
                f"See the model server's log in {server.workdir / 'container.log'}.",
                OriginalStatusCode=status,
                OriginalMessage=text,
            )
        log.debug(
            "%s/%s answered in %.1f ms", name, server.name, 1000 * (time.monotonic() - started)
        )
        start_response(
            "200 OK",
            [
                ("Content-Type", content_type or "application/json"),
                ("Content-Length", str(len(answer))),
                ("x-Amzn-Invoked-Production-Variant", server.name),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )
        return [answer]
