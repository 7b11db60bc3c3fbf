"""The local AWS emulator: moto's server, our extensions, and durable state.

moto keeps its state in memory. To make buckets, objects, registry entries, endpoints and
metrics survive a restart or a crash, every successful *mutating* request is appended to a
journal file before its response is returned; on start the journal is replayed through the
same WSGI application, in-process, before the port opens. Read-only calls (GET/HEAD, and
Describe/List/Get/Search actions of the JSON and query protocols) are not journaled.

On start the journal is first compacted (:mod:`image_mlops_dev.stack.journal_compaction`):
S3 writes that later records supersede, with nothing reading them in between, are dropped.

Run as ``python -m image_mlops_dev.stack.emulator --port 5055 --journal .local/emulator/journal``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from image_mlops_dev.stack.emulator_auth import (
    RequireSignature,
    buffered_body,
    credentials_from_environment,
)
from image_mlops_dev.stack.emulator_endpoints import is_endpoint_invoke
from image_mlops_dev.stack.emulator_jobs import is_lambda_invoke

log = logging.getLogger("image_mlops.emulator")

_READ_ONLY_ACTION = re.compile(r"^(Describe|List|Get|Search|Query|Head|Batch(Get|Describe))")
#: Messages are not journaled: SNS Publish (replayed, it would deliver its message to the
#: subscribed queues again) and the SQS message actions. Topics, queues and subscriptions
#: are; the messages waiting in a queue are gone after a restart.
_MESSAGE_ACTIONS = {
    "Publish",
    "PublishBatch",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}
_REPLAYED_HEADERS_SKIP = {"HTTP_CONTENT_LENGTH", "CONTENT_LENGTH"}
#: Never journaled: a signature or a session token must not sit in a file (replay goes below
#: the signature check and needs neither).
_CREDENTIAL_HEADERS = {"HTTP_AUTHORIZATION", "HTTP_X_AMZ_SECURITY_TOKEN"}
#: A presigned URL's credentials, left out of a journaled query string for the same reason.
_CREDENTIAL_PARAMS = re.compile(r"^X-Amz-(Signature|Credential|Security-Token)=", re.IGNORECASE)
_RECORD_MAGIC = b"IMJ1 "
_UPLOAD_ID_IN_RESPONSE = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_UPLOAD_ID_IN_QUERY = re.compile(r"(^|&)uploadId=([^&]*)")


_RPC_V2_OPERATION = re.compile(r"^/service/[^/]+/operation/(?P<action>[A-Za-z0-9]+)$")


def _action_of(environ: dict[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    # Smithy RPC v2 (CBOR), CloudWatch's protocol in botocore: the operation is in the path
    operation = _RPC_V2_OPERATION.match(environ.get("PATH_INFO", ""))
    if operation:
        return operation.group("action")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded") and body:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def request_action(environ: dict[str, Any]) -> str | None:
    """The API action of a request whose body the journaling layer has buffered."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""
    return _action_of(environ, body)


def is_mutating(environ: dict[str, Any], body: bytes) -> bool:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return False
    if is_lambda_invoke(environ) or is_endpoint_invoke(environ):
        return False  # an invocation's effects are its own (journaled) requests
    # Everything that is not a read is journaled (S3 POST ?select and the like included).
    action = _action_of(environ, body)
    if action in _MESSAGE_ACTIONS:
        return False
    return not (action and _READ_ONLY_ACTION.match(action))


class JournalDamaged(Exception):
    """A record in the middle of the journal is unreadable: replaying past it would lose
    every later record, so the emulator refuses to start instead."""


def _without_credentials(query: str) -> str:
    return "&".join(pair for pair in query.split("&") if not _CREDENTIAL_PARAMS.match(pair))


_SCOPE = re.compile(r"Credential=[^/,&]+/(\d{8})/([^/,&]+)/([^/,&]+)/aws4_request")


def credential_scope(headers: dict[str, Any], query: str = "") -> dict[str, str] | None:
    """The date, region and service a request was signed for — what moto dispatches on —
    without the key or the signature."""
    match = _SCOPE.search(str(headers.get("HTTP_AUTHORIZATION", ""))) or _SCOPE.search(
        unquote(query)
    )
    if match is None:
        return None
    return {"date": match.group(1), "region": match.group(2), "service": match.group(3)}


def strip_credentials(header: dict[str, Any]) -> bool:
    """Take a journal record's credentials out of its header — keeping the scope replay
    dispatches on — and say whether there were any."""
    headers = header.get("headers", {})
    query = header.get("query", "")
    scope = credential_scope(headers, query)
    if scope and "scope" not in header:
        header["scope"] = scope
    found = [name for name in headers if name in _CREDENTIAL_HEADERS]
    for name in found:
        del headers[name]
    header["query"] = _without_credentials(query)
    return bool(found) or header["query"] != query


def _replay_authorization(scope: dict[str, str]) -> str:
    """An ``Authorization`` header for replay: the journaled scope, no key, no signature
    (replay goes below the signature check; moto reads only the scope)."""
    return (
        f"AWS4-HMAC-SHA256 Credential=journal-replay/{scope['date']}/{scope['region']}/"
        f"{scope['service']}/aws4_request, SignedHeaders=host, Signature=0"
    )


class Journal:
    """Append-only file of length-prefixed request records, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(path, 0o600)  # a journal written before this rule was world-readable
        self._file = os.fdopen(fd, "ab")

    def append(
        self, environ: dict[str, Any], body: bytes, extra: dict[str, Any] | None = None
    ) -> None:
        headers = {
            key: value
            for key, value in environ.items()
            # REQUEST_URI/RAW_URI: the undecoded path, so a key with "?" or "%" replays as is
            if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "REQUEST_URI", "RAW_URI"))
            and key not in _REPLAYED_HEADERS_SKIP
            and isinstance(value, str)
        }
        header = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "length": len(body),
            "time": time.time(),
        }
        strip_credentials(header)
        header.update(extra or {})
        self.write_record(header, body)

    def write_record(self, header: dict[str, Any], body: bytes) -> None:
        self._file.write(_RECORD_MAGIC + json.dumps(header).encode() + b"\n" + body + b"\n")
        # flush() hands the record to the OS: a crash of this process loses nothing.
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def read(path: Path) -> Iterator[tuple[dict[str, Any], bytes]]:
        """The records, in order. A crash while appending leaves a *prefix* of one record at
        the end: that torn tail is ignored (and cut off on start). Anything else unreadable
        raises :class:`JournalDamaged`."""
        if not path.exists():
            return
        size = path.stat().st_size
        with open(path, "rb") as handle:
            while True:
                start = handle.tell()
                line = handle.readline()
                if not line:
                    return
                at_end = handle.tell() == size
                if not line.startswith(_RECORD_MAGIC):
                    if at_end and not line.endswith(b"\n") and _RECORD_MAGIC.startswith(line):
                        log.warning("%s: ignoring a torn last record (crash while writing)", path)
                        return
                    raise JournalDamaged(_damaged(path, start, "no record starts there"))
                if not line.endswith(b"\n"):  # the header line itself was cut: a tail
                    log.warning("%s: ignoring a torn last record (crash while writing)", path)
                    return
                try:
                    header = json.loads(line[len(_RECORD_MAGIC) :])
                    length = int(header["length"])
                except (ValueError, KeyError, TypeError):
                    raise JournalDamaged(
                        _damaged(path, start, "its header is unreadable")
                    ) from None
                body = handle.read(length)
                trailer = handle.read(1)
                if len(body) < length or not trailer:
                    log.warning("%s: ignoring a torn last record (crash while writing)", path)
                    return
                if trailer != b"\n":
                    raise JournalDamaged(_damaged(path, start, "its body has the wrong length"))
                yield header, body

    @staticmethod
    def valid_length(path: Path) -> int:
        """Bytes of ``path`` up to the end of its last complete record."""
        good = 0
        with open(path, "rb") as handle:
            while True:
                line = handle.readline()
                if not line.startswith(_RECORD_MAGIC) or not line.endswith(b"\n"):
                    return good
                try:
                    length = int(json.loads(line[len(_RECORD_MAGIC) :])["length"])
                except (ValueError, KeyError, TypeError):
                    return good
                handle.seek(length, os.SEEK_CUR)
                if handle.read(1) != b"\n":
                    return good
                good = handle.tell()


def _damaged(path: Path, offset: int, why: str) -> str:
    return (
        f"{path}: the journal record at byte {offset} is damaged ({why}), and records follow "
        "it. Replaying past it would silently drop them, so the emulator does not start. "
        "Restore the file from a backup, or run `make clean` to start with empty local state."
    )


def _environ_for(header: dict[str, Any], body: bytes) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": header["method"],
        "PATH_INFO": header["path"],
        "QUERY_STRING": header["query"],
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    environ.update(header["headers"])
    if "scope" in header:
        environ["HTTP_AUTHORIZATION"] = _replay_authorization(header["scope"])
    return environ


class JournalingApp:
    """WSGI middleware: serialise mutating requests and journal the successful ones."""

    def __init__(self, app: Callable[..., Iterable[bytes]], journal: Journal | None) -> None:
        self.app = app
        self.journal = journal
        # the jobs and endpoints layers (build_app sets them), stopped with the server
        self.jobs: Any = None
        self.endpoints: Any = None
        self.alarms: Any = None  # the alarm evaluator, started with the server
        # One mutation at a time, so the journal's order is the order moto applied them in.
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = buffered_body(environ)
        if self.journal is None or not is_mutating(environ, body):
            return self.app(environ, start_response)

        with self._lock:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
                captured["status"] = status
                captured["headers"] = headers
                return start_response(status, headers, exc_info)

            replay_environ = dict(environ)
            result = self.app(environ, capture)
            chunks = list(result)
            if hasattr(result, "close"):
                result.close()
            if int(captured.get("status", "500").split()[0]) < 400:
                replay_environ["wsgi.input"] = io.BytesIO(body)
                created = _ids_created(environ, chunks, captured.get("headers", []))
                self.journal.append(replay_environ, body, created)
            return chunks


def _ids_created(
    environ: dict[str, Any], chunks: list[bytes], headers: list[tuple[str, str]] = ()
) -> dict[str, Any]:
    """Random ids the emulator generated for this request, which later requests refer to.

    moto draws S3 multipart upload ids from ``os.urandom``: a replayed CreateMultipartUpload
    gets a new id, so the journal keeps the original one to map the parts' ``uploadId`` on.
    It draws object version ids at random too: the journal keeps the id a write to a
    versioned bucket was given, and replay gives it back (ids are recorded elsewhere, e.g.
    the approved artifact version in a SageMaker model's environment).
    """
    created: dict[str, Any] = {}
    if environ.get("REQUEST_METHOD") == "POST" and "uploads" in parse_qs(
        environ.get("QUERY_STRING", ""), keep_blank_values=True
    ):
        match = _UPLOAD_ID_IN_RESPONSE.search(b"".join(chunks))
        if match:
            created["upload_id"] = match.group(1).decode()
    version = next((v for k, v in headers if k.lower() == "x-amz-version-id"), None)
    if version and version != "null":
        created["version_id"] = version
    return created


def replay(app: Callable[..., Iterable[bytes]], path: Path) -> int:
    """Re-apply every journaled request to a fresh emulator; returns how many."""
    from image_mlops_dev.stack import emulator_extensions
    from image_mlops_dev.stack.emulator_s3_rules import bucket_and_key

    count = 0
    failures = 0
    upload_ids: dict[str, str] = {}  # journaled multipart upload id -> this process's id
    for header, body in Journal.read(path):
        status: dict[str, str] = {}

        def start_response(s: str, h: Any, e: Any = None, status: dict[str, str] = status):
            status["status"] = s

        if upload_ids and "uploadId=" in header["query"]:
            header["query"] = _UPLOAD_ID_IN_QUERY.sub(
                lambda m: (
                    m.group(1)
                    + "uploadId="
                    + quote(upload_ids.get(unquote(m.group(2)), unquote(m.group(2))), safe="")
                ),
                header["query"],
            )
        try:
            result = app(_environ_for(header, body), start_response)
            chunks = list(result)
            if hasattr(result, "close"):
                result.close()
        except Exception:
            # One bad record must not keep the emulator (and everything after it) down.
            log.exception("replay of %s %s raised", header["method"], header["path"])
            status["status"] = "500 replay error"
            chunks = []
        if "upload_id" in header:
            match = _UPLOAD_ID_IN_RESPONSE.search(b"".join(chunks))
            if match:
                upload_ids[header["upload_id"]] = match.group(1).decode()
        if "version_id" in header and int(status.get("status", "500").split()[0]) < 400:
            bucket, key = bucket_and_key(header["path"])
            if key:
                emulator_extensions.restore_version_id(bucket, key, header["version_id"])
        if int(status.get("status", "500").split()[0]) >= 400:
            failures += 1
            log.warning("replay of %s %s answered %s", header["method"], header["path"], status)
        count += 1
    if failures:
        log.warning("%d of %d journaled requests failed on replay", failures, count)
    return count


def _dispatcher() -> Callable[..., Iterable[bytes]]:
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


def build_app(
    journal_path: Path | None, *, port: int = 0, work_dir: Path | None = None
) -> JournalingApp:
    """moto's dispatcher with our extensions, replayed from and journaling to ``journal_path``.

    ``port`` is where the server will listen (jobs and executions call the emulator back
    there); ``work_dir`` holds the jobs' work folders (default: beside the journal).
    """
    # moto's own recorder would write every request (reads too) to ./moto_recording; it is
    # on for any non-empty value of this variable, so remove it rather than set it "False".
    os.environ.pop("MOTO_ENABLE_RECORDING", None)
    import tempfile

    from image_mlops_dev.stack import emulator_extensions
    from image_mlops_dev.stack.emulator_alarms import AlarmEvaluation, AlarmEvaluator
    from image_mlops_dev.stack.emulator_endpoints import EmulatorEndpoints
    from image_mlops_dev.stack.emulator_jobs import EmulatorJobs, enable_executions
    from image_mlops_dev.stack.emulator_s3_rules import S3Rules

    emulator_extensions.apply()
    if work_dir is None:
        work_dir = (
            journal_path.parent / "jobs"
            if journal_path is not None
            else Path(tempfile.mkdtemp(prefix="emulator-jobs-"))
        )
    jobs = EmulatorJobs(_dispatcher(), workdir=work_dir, endpoint_url=f"http://127.0.0.1:{port}")
    enable_executions(jobs, port)
    endpoints = EmulatorEndpoints(jobs, jobs=jobs, workdir=work_dir)
    if journal_path is not None and journal_path.exists():
        from image_mlops_dev.stack.journal_compaction import compact

        before, after = compact(journal_path)
        if after < before:
            log.info("compacted %s: %d → %d records", journal_path, before, after)
        started = time.monotonic()
        jobs.replaying = True  # replayed jobs and executions do not run again
        try:
            count = replay(endpoints, journal_path)
        finally:
            jobs.replaying = False
        log.info(
            "replayed %d journaled requests from %s in %.1f s",
            count,
            journal_path,
            time.monotonic() - started,
        )
    if journal_path is not None and journal_path.exists():
        good = Journal.valid_length(journal_path)
        if good < journal_path.stat().st_size:
            # Cut the torn tail off, or every record appended after it would be unreadable.
            log.warning("%s: truncating a torn tail at byte %d", journal_path, good)
            with open(journal_path, "r+b") as handle:
                handle.truncate(good)
    journal = Journal(journal_path) if journal_path is not None else None
    alarms = AlarmEvaluator(f"http://127.0.0.1:{port}")
    app = JournalingApp(AlarmEvaluation(S3Rules(endpoints), alarms), journal)
    app.jobs, app.endpoints, app.alarms = jobs, endpoints, alarms
    jobs.outer = app
    ended = jobs.end_ghosts()
    if ended:
        log.warning("%d job(s)/execution(s) were running when the emulator stopped: failed", ended)
    restored = endpoints.restore()
    if restored:
        log.info("%d endpoint(s) restored: their model servers are starting", restored)
    return app


#: ``POST {"s3_ms": 20, "invoke_ms": 30}``: set the added latency of a running emulator.
LATENCY_PATH = "/_emulator/latency"


class AddedLatency:
    """Development option: the round-trip time AWS adds, per S3 request and per invocation.

    On AWS an S3 request takes tens of milliseconds and an endpoint invocation more; the
    emulator on the same machine answers in about one. Benchmarks add it back to measure what
    users meet (``--s3-latency-ms``, ``--invoke-latency-ms``, or ``POST`` to
    :data:`LATENCY_PATH` while running). The wait is outside the journal's lock: it delays
    each request, never the others.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], *, s3_ms: float, invoke_ms: float):
        self.app = app
        self.set(s3_ms, invoke_ms)

    def set(self, s3_ms: float, invoke_ms: float) -> None:
        self.s3_seconds, self.invoke_seconds = max(0.0, s3_ms) / 1000, max(0.0, invoke_ms) / 1000
        if s3_ms or invoke_ms:
            log.warning(
                "added latency: %.0f ms per S3 request, %.0f ms per endpoint invocation",
                s3_ms,
                invoke_ms,
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == LATENCY_PATH and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
            self.set(float(wanted.get("s3_ms", 0)), float(wanted.get("invoke_ms", 0)))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(wanted).encode()]
        if self.invoke_seconds and is_endpoint_invoke(environ):
            time.sleep(self.invoke_seconds)
        elif self.s3_seconds and _signed_for(environ) == "s3":
            time.sleep(self.s3_seconds)
        return self.app(environ, start_response)


def _signed_for(environ: dict[str, Any]) -> str | None:
    """The service of a request's SigV4 credential scope (header or presigned query)."""
    scope = credential_scope(environ, environ.get("QUERY_STRING", ""))
    return scope["service"] if scope else None


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

    from image_mlops_dev.stack.emulator_faults import FaultInjector

    credentials = credentials_from_environment(dict(os.environ))
    if not credentials:
        sys.exit(
            "the emulator accepts only requests signed with the stack's key: set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (make up passes the AWS connection's)"
        )
    journaling = build_app(journal_path, port=port)
    app: Callable[..., Iterable[bytes]] = journaling
    app = AddedLatency(app, s3_ms=s3_latency_ms, invoke_ms=invoke_latency_ms)
    if faults:
        app = FaultInjector(app)
        log.warning("fault injection is on (%s): for the fault suite only", "/_emulator/faults")
    app = RequireSignature(app, credentials)
    # werkzeug's threaded server speaks HTTP/1.1 with keep-alive: clients reuse connections
    server = make_server(host, port, app, threaded=True)
    journaling.alarms.start()

    def stop(signum: int, _frame: Any) -> None:
        # running jobs end with the emulator (replay records them as failed, not InProgress)
        journaling.jobs.stop_all()
        journaling.endpoints.stop_all()
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


if __name__ == "__main__":
    main()
