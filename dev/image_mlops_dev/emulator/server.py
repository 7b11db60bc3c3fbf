"""The local AWS emulator's composition root: moto's server, our layers, durable state.

This module imports every part and nothing imports it. It applies the service packages'
patches of moto, stacks the WSGI layers (outermost first) and serves them:

* health (``GET /_emulator/health``, unsigned, tells nothing about state);
* the HTTP layer (:mod:`image_mlops_dev.emulator.http`): signature, fault injection (the
  test stack's fault suite only), added latency (benchmarks), the journal;
* the service layers: CloudWatch alarm evaluation, S3's rules, SageMaker endpoints,
  Step Functions outcomes, Lambda invocations, SageMaker jobs;
* moto's dispatcher.

Run as ``python -m image_mlops_dev.emulator --port 5055 --journal .local/emulator/journal.bin``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from image_mlops_dev.emulator.applicationautoscaling import targets as autoscaling_targets
from image_mlops_dev.emulator.awslambda.invoke import LambdaInvocations, is_lambda_invoke
from image_mlops_dev.emulator.cloudformation import resources as cloudformation_resources
from image_mlops_dev.emulator.cloudwatch import metric_data
from image_mlops_dev.emulator.cloudwatch.alarms import AlarmEvaluation, AlarmEvaluator
from image_mlops_dev.emulator.http.faults import FaultInjector
from image_mlops_dev.emulator.http.journal import (
    Journal,
    JournalDamaged,
    JournalingApp,
    replay,
    truncate_torn_tail,
)
from image_mlops_dev.emulator.http.latency import AddedLatency
from image_mlops_dev.emulator.http.signature import Caller, RequireSignature
from image_mlops_dev.emulator.http.wsgi import WsgiApp, json_response
from image_mlops_dev.emulator.platform import Platform
from image_mlops_dev.emulator.s3 import bucket_policy, versions
from image_mlops_dev.emulator.s3.compaction import compact
from image_mlops_dev.emulator.s3.rules import S3Rules
from image_mlops_dev.emulator.sagemaker import updates as sagemaker_updates
from image_mlops_dev.emulator.sagemaker.endpoints import SageMakerEndpoints, is_endpoint_invoke
from image_mlops_dev.emulator.sagemaker.jobs import SageMakerJobs
from image_mlops_dev.emulator.stepfunctions import executions

log = logging.getLogger("image_mlops.emulator")

#: Readiness: answered once replay is done and the port is open. (moto's /moto-api/data.json
#: serialises every backend, and fails once a Lambda function exists: it asks Docker.)
HEALTH_PATH = "/_emulator/health"


def apply_moto_patches() -> None:
    """Every service package's changes to moto (each fails loudly on another moto)."""
    autoscaling_targets.apply()
    cloudformation_resources.apply()
    metric_data.apply()
    bucket_policy.apply()
    sagemaker_updates.apply()


def _dispatcher() -> WsgiApp:
    """moto's dispatcher, minus a directory scan per request.

    moto's ``get_backend_for_host`` lists its own package folder (~180 ``stat`` calls) on
    every request, while holding the dispatcher's lock, so every request — reads too — waited
    on it in turn (about half of the emulator's time per S3 GET). The answer for a host never
    changes within a process: it is computed once per host and remembered.
    """
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class CachingDispatcher(DomainDispatcherApplication):
        modules = frozenset(backends.list_of_moto_modules())

        def __init__(self, create_app: Callable[..., Any]) -> None:
            super().__init__(create_app)
            self._backend_for_host: dict[str, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host is None or host == "moto_api" or host in self.modules:
                return host
            if host not in self._backend_for_host:
                self._backend_for_host[host] = super().get_backend_for_host(host)
            return self._backend_for_host[host]

    return CachingDispatcher(create_backend_app)


@dataclass
class Emulator:
    """The assembled emulator: its outermost journaled app and the parts that run threads."""

    app: WsgiApp
    platform: Platform
    jobs: SageMakerJobs
    endpoints: SageMakerEndpoints
    alarms: AlarmEvaluator

    def stop_all(self) -> None:
        """End every running container (the emulator is stopping)."""
        self.jobs.stop_all()
        self.endpoints.stop_all()


def _emulator_key_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
    }


def build_app(
    journal_path: Path | None, *, port: int = 0, work_dir: Path | None = None
) -> Emulator:
    """moto's dispatcher with our layers, replayed from and journaling to ``journal_path``.

    ``port`` is where the server will listen (jobs and executions call the emulator back
    there); ``work_dir`` holds the jobs' work folders (default: beside the journal).
    """
    # moto's own recorder would write every request (reads too) to ./moto_recording; it is
    # on for any non-empty value of this variable, so remove it rather than set it "False".
    os.environ.pop("MOTO_ENABLE_RECORDING", None)
    apply_moto_patches()
    if work_dir is None:
        work_dir = (
            journal_path.parent / "jobs"
            if journal_path is not None
            else Path(tempfile.mkdtemp(prefix="emulator-jobs-"))
        )
    platform = Platform(workdir=work_dir, endpoint_url=f"http://127.0.0.1:{port}")
    executions.enable_executions(platform, port, _emulator_key_credentials)
    jobs = SageMakerJobs(_dispatcher(), platform)
    endpoints = SageMakerEndpoints(
        executions.ExecutionOutcomes(LambdaInvocations(jobs, platform)), platform
    )
    if journal_path is not None and journal_path.exists():
        before, after = compact(journal_path)
        if after < before:
            log.info("compacted %s: %d → %d records", journal_path, before, after)
        started = time.monotonic()
        platform.replaying = True  # replayed jobs and executions do not run again
        try:
            count = replay(endpoints, journal_path, restorers=[versions.restore_from_journal])
        finally:
            platform.replaying = False
        log.info(
            "replayed %d journaled requests from %s in %.1f s",
            count,
            journal_path,
            time.monotonic() - started,
        )
    if journal_path is not None:
        truncate_torn_tail(journal_path)
    journal = Journal(journal_path) if journal_path is not None else None
    alarms = AlarmEvaluator(f"http://127.0.0.1:{port}")
    app = JournalingApp(
        AlarmEvaluation(S3Rules(endpoints), alarms),
        journal,
        exempt=(is_lambda_invoke, is_endpoint_invoke),
    )
    platform.internal.outer = app
    ended = jobs.end_ghosts() + executions.end_ghosts(platform)
    if ended:
        log.warning("%d job(s)/execution(s) were running when the emulator stopped: failed", ended)
    restored = endpoints.restore()
    if restored:
        log.info("%d endpoint(s) restored: their model servers are starting", restored)
    return Emulator(app, platform, jobs, endpoints, alarms)


class Health:
    """``GET /_emulator/health``: readiness, answered without a signature."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            return json_response(start_response, "200 OK", {"status": "ready"})
        return self.app(environ, start_response)


def _static_resolver(credentials: dict[str, str]) -> Callable[[str, str | None], Caller | None]:
    def resolve(key: str, token: str | None) -> Caller | None:
        secret = credentials.get(key)
        return Caller(key, secret, None) if secret else None

    return resolve


def serve(
    host: str,
    port: int,
    journal_path: Path | None,
    faults: bool = False,
    *,
    s3_latency_ms: float = 0.0,
    invoke_latency_ms: float = 0.0,
) -> None:
    from werkzeug.serving import make_server

    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        sys.exit(
            "the emulator accepts only requests signed with the stack's key: set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (make up passes the AWS connection's)"
        )
    emulator = build_app(journal_path, port=port)
    app: WsgiApp = AddedLatency(
        emulator.app,
        s3_ms=s3_latency_ms,
        invoke_ms=invoke_latency_ms,
        is_invocation=is_endpoint_invoke,
    )
    if faults:
        app = FaultInjector(app)
        log.warning("fault injection is on (%s): for the fault suite only", "/_emulator/faults")
    app = Health(RequireSignature(app, _static_resolver({key: secret})))
    # werkzeug's threaded server speaks HTTP/1.1 with keep-alive: clients reuse connections
    server = make_server(host, port, app, threaded=True)
    emulator.alarms.start()

    def stop(signum: int, _frame: Any) -> None:
        # running jobs end with the emulator (replay records them as failed, not InProgress)
        emulator.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    log.info("local AWS emulator listening on http://%s:%d", host, port)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local AWS emulator (moto + extensions).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--journal", type=Path, help="journal file (omit: no persistence)")
    parser.add_argument(
        "--faults", action="store_true", help="accept fault rules (the test suite's fault tests)"
    )
    parser.add_argument(
        "--s3-latency-ms",
        type=float,
        default=float(os.environ.get("IMAGE_MLOPS_EMULATOR_S3_LATENCY_MS") or 0),
        help="add this round-trip time to every S3 request (benchmarks; default "
        "$IMAGE_MLOPS_EMULATOR_S3_LATENCY_MS or 0)",
    )
    parser.add_argument(
        "--invoke-latency-ms",
        type=float,
        default=float(os.environ.get("IMAGE_MLOPS_EMULATOR_INVOKE_LATENCY_MS") or 0),
        help="add this round-trip time to every endpoint invocation (benchmarks; default "
        "$IMAGE_MLOPS_EMULATOR_INVOKE_LATENCY_MS or 0)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        serve(
            args.host,
            args.port,
            args.journal,
            faults=args.faults,
            s3_latency_ms=args.s3_latency_ms,
            invoke_latency_ms=args.invoke_latency_ms,
        )
    except JournalDamaged as exc:
        sys.exit(str(exc))
