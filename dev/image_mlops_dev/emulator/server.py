"""The local AWS emulator's composition root: moto's server, our layers, durable state.

This module imports every part and nothing imports it. It applies the service packages'
patches of moto, stacks the WSGI layers (outermost first) and serves them:

* TLS or plain HTTP per connection (:mod:`.http.tls`);
* health (``GET /_emulator/health``, unsigned, tells nothing about state) and the container
  credentials endpoint (unsigned, token-authorized: :mod:`.sts.service`);
* the HTTP layer (:mod:`image_mlops_dev.emulator.http`): signature (who signed:
  :mod:`.sts.credentials` resolves the key), fault injection (the test stack's fault suite
  only), added latency (benchmarks), authorization (what IAM allows: :mod:`.iam.authorizer`),
  validation (the request against the service's API model: :mod:`.http.validation`);
* S3's per-key authorization of ``DeleteObjects``, above the journal so that it records the
  keys really deleted; the journal;
* the service layers: CloudWatch alarm evaluation, S3's rules, STS, SageMaker's role checks,
  endpoints, Step Functions outcomes, Lambda invocations, SageMaker jobs;
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

from image_mlops_dev.emulator import images
from image_mlops_dev.emulator.applicationautoscaling import targets as autoscaling_targets
from image_mlops_dev.emulator.awslambda.invoke import LambdaInvocations, is_lambda_invoke
from image_mlops_dev.emulator.cloudformation import added as cloudformation_added
from image_mlops_dev.emulator.cloudformation import resources as cloudformation_resources
from image_mlops_dev.emulator.cloudwatch import alarm_actions, metric_data
from image_mlops_dev.emulator.cloudwatch.alarms import AlarmEvaluation, AlarmEvaluator
from image_mlops_dev.emulator.http.authorization import Authorization, EmulatorPaths
from image_mlops_dev.emulator.http.faults import FaultInjector
from image_mlops_dev.emulator.http.journal import (
    Journal,
    JournalDamaged,
    JournalingApp,
    replay,
    truncate_torn_tail,
)
from image_mlops_dev.emulator.http.latency import AddedLatency
from image_mlops_dev.emulator.http.operations import service_of
from image_mlops_dev.emulator.http.signature import RequireSignature
from image_mlops_dev.emulator.http.tls import TlsOrPlainServer, ensure_certificates, server_context
from image_mlops_dev.emulator.http.validation import Validation
from image_mlops_dev.emulator.http.wsgi import WsgiApp, json_response
from image_mlops_dev.emulator.iam.authorizer import Authorizer
from image_mlops_dev.emulator.platform import Platform
from image_mlops_dev.emulator.s3 import bucket_policy, checksums, etags, versions
from image_mlops_dev.emulator.s3.compaction import compact
from image_mlops_dev.emulator.s3.delete_objects import DeleteObjectsPerKey
from image_mlops_dev.emulator.s3.rules import S3Rules
from image_mlops_dev.emulator.sagemaker import updates as sagemaker_updates
from image_mlops_dev.emulator.sagemaker.endpoints import SageMakerEndpoints, is_endpoint_invoke
from image_mlops_dev.emulator.sagemaker.jobs import SageMakerJobs
from image_mlops_dev.emulator.sagemaker.roles import ExecutionRoles
from image_mlops_dev.emulator.stepfunctions import executions
from image_mlops_dev.emulator.sts.credentials import CredentialStore
from image_mlops_dev.emulator.sts.service import (
    ContainerCredentials,
    SecurityTokenService,
    role_session,
)
from image_mlops_dev.emulator.sts.sessions import SERVICE_SECONDS

log = logging.getLogger("image_mlops.emulator")

#: Readiness: answered once replay is done and the port is open. (moto's /moto-api/data.json
#: serialises every backend, and fails once a Lambda function exists: it asks Docker.)
HEALTH_PATH = "/_emulator/health"


def apply_moto_patches() -> None:
    """Every service package's changes to moto (each fails loudly on another moto)."""
    autoscaling_targets.apply()
    cloudformation_resources.apply()
    cloudformation_added.apply()
    metric_data.apply()
    alarm_actions.apply()
    bucket_policy.apply()
    etags.apply()
    checksums.apply()
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


#: The emulator's account (moto's default account).
ACCOUNT = "123456789012"


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


def _is_sts(environ: dict[str, Any]) -> bool:
    found = service_of(environ)
    return found is not None and found[0] == "sts"


def build_app(
    journal_path: Path | None,
    store: CredentialStore,
    *,
    port: int = 0,
    work_dir: Path | None = None,
    ca_bundle: Path | None = None,
) -> Emulator:
    """moto's dispatcher with our layers below authentication, replayed from and journaling
    to ``journal_path``.

    ``port`` is where the server will listen (jobs and executions call the emulator back
    there); ``work_dir`` holds the jobs' work folders (default: beside the journal).
    """
    # moto's own recorder would write every request (reads too) to ./moto_recording; it is
    # on for any non-empty value of this variable, so remove it rather than set it "False".
    os.environ.pop("MOTO_ENABLE_RECORDING", None)
    apply_moto_patches()
    store.create_bootstrap_user()
    if work_dir is None:
        work_dir = (
            journal_path.parent / "jobs"
            if journal_path is not None
            else Path(tempfile.mkdtemp(prefix="emulator-jobs-"))
        )
    scheme = "https" if ca_bundle is not None else "http"
    # the container profiles' virtualenvs: the state folder's (beside emulator/), or a folder
    # the test run's stacks share
    venvs = images.cache_folder(
        journal_path.parent.parent if journal_path is not None else work_dir.parent
    )
    platform = Platform(
        workdir=work_dir,
        endpoint_url=f"{scheme}://127.0.0.1:{port}",
        ca_bundle=ca_bundle,
        container_venvs=venvs,
    )
    platform.assume = lambda role, service, session: role_session(
        store, role, service, session, SERVICE_SECONDS
    ).environment()
    platform.as_service = store.service_key
    executions.enable_executions(platform)
    jobs = SageMakerJobs(_dispatcher(), platform)
    endpoints = SageMakerEndpoints(
        executions.ExecutionOutcomes(LambdaInvocations(jobs, platform)), platform
    )
    services = ExecutionRoles(endpoints, platform)
    if journal_path is not None and journal_path.exists():
        before, after = compact(journal_path)
        if after < before:
            log.info("compacted %s: %d → %d records", journal_path, before, after)
        started = time.monotonic()
        platform.replaying = True  # replayed jobs and executions do not run again
        try:
            count = replay(
                services,
                journal_path,
                restorers=[versions.restore_from_journal, etags.restore_from_journal],
            )
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
    alarms = AlarmEvaluator(platform)
    app: WsgiApp = JournalingApp(
        AlarmEvaluation(S3Rules(SecurityTokenService(services, store)), alarms),
        journal,
        exempt=(is_lambda_invoke, is_endpoint_invoke, _is_sts),
        recorders=(etags.record,),
    )
    platform.internal.outer = app
    authorizer = Authorizer(ACCOUNT)
    app = DeleteObjectsPerKey(app, authorizer.may_delete)
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


def serve(
    host: str,
    port: int,
    journal_path: Path | None,
    faults: bool = False,
    *,
    s3_latency_ms: float = 0.0,
    invoke_latency_ms: float = 0.0,
    tls_dir: Path | None = None,
) -> None:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        sys.exit(
            "the emulator needs the stack's bootstrap key: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (make up passes it from .env)"
        )
    if tls_dir is None:
        tls_dir = (
            journal_path.parent / "tls"
            if journal_path is not None
            else Path(tempfile.mkdtemp(prefix="emulator-tls-"))
        )
    ca, certificate, private_key = ensure_certificates(tls_dir)
    store = CredentialStore(key, secret, ACCOUNT)
    emulator = build_app(journal_path, store, port=port, ca_bundle=ca)
    app: WsgiApp = Authorization(
        Validation(emulator.app),
        Authorizer(ACCOUNT),
        unenforced=emulator.app,
    )
    app = AddedLatency(
        app, s3_ms=s3_latency_ms, invoke_ms=invoke_latency_ms, is_invocation=is_endpoint_invoke
    )
    if faults:
        app = FaultInjector(app)
        log.warning("fault injection is on (%s): for the fault suite only", "/_emulator/faults")
    # the latency and fault knobs answer outside authorisation: the bootstrap key's only
    app = EmulatorPaths(app, may_administer=store.is_bootstrap)
    app = Health(ContainerCredentials(RequireSignature(app, store.resolve), store))
    # werkzeug's threaded server speaks HTTP/1.1 with keep-alive: clients reuse connections
    server = TlsOrPlainServer(host, port, app, server_context(certificate, private_key))
    emulator.alarms.start()

    def stop(signum: int, _frame: Any) -> None:
        # running jobs end with the emulator (replay records them as failed, not InProgress)
        emulator.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    log.info("local AWS emulator listening on https://%s:%d (and plain http)", host, port)
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
        "--tls-dir",
        type=Path,
        help="folder of the local CA and the server certificate (made on first use; "
        "default: tls/ beside the journal)",
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
            tls_dir=args.tls_dir,
        )
    except JournalDamaged as exc:
        sys.exit(str(exc))
