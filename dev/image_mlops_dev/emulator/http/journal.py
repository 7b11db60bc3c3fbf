"""The emulator's journal: its state survives a restart or a crash.

moto keeps its state in memory. Every successful *mutating* request is appended to a journal
file before its response is returned; on start the journal is replayed through the same WSGI
application, in-process, before the port opens. Read-only calls (GET/HEAD, and
Describe/List/Get/Search actions of the JSON and query protocols) are not journaled, nor are
messages (SNS ``Publish``, SQS message actions) and the requests the composition root names
(invocations: their effects are their own, journaled, requests).

A record carries no credentials: the signature and session token are taken out, the SigV4
scope (date, region, service) that moto dispatches on is kept. What a request's response
created that later requests name (a multipart upload id, an object version id, an ETag drawn
at random) is kept with it, and replay gives it back through the callbacks the composition
root registers (recorders and restorers).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from image_mlops_dev.emulator.http.wsgi import (
    WsgiApp,
    action_of,
    buffered_body,
    credential_scope,
    environ_for,
)

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

#: A request the journal leaves out although it is not a read (given by the composition root).
Exemption = Callable[[dict[str, Any]], bool]
#: ``restore(header)`` after a record's replay: give back what it created.
Restorer = Callable[[dict[str, Any]], None]
#: ``record(environ, response headers, response body chunks)``: what a service layer keeps
#: in the record of a journaled request (fields its restorer gives back on replay).
Recorder = Callable[[dict[str, Any], list[tuple[str, str]], list[bytes]], dict[str, Any]]


def is_mutating(environ: dict[str, Any], body: bytes, exempt: Iterable[Exemption] = ()) -> bool:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return False
    if any(rule(environ) for rule in exempt):
        return False
    # Everything that is not a read is journaled (S3 POST ?select and the like included).
    action = action_of(environ, body)
    if action in _MESSAGE_ACTIONS:
        return False
    return not (action and _READ_ONLY_ACTION.match(action))


class JournalDamaged(Exception):
    """A record in the middle of the journal is unreadable: replaying past it would lose
    every later record, so the emulator refuses to start instead."""


def _without_credentials(query: str) -> str:
    return "&".join(pair for pair in query.split("&") if not _CREDENTIAL_PARAMS.match(pair))


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


def _replay_environ(header: dict[str, Any], body: bytes) -> dict[str, Any]:
    environ = environ_for(header, body)
    if "scope" in header:
        environ["HTTP_AUTHORIZATION"] = _replay_authorization(header["scope"])
    return environ


class JournalingApp:
    """WSGI middleware: serialise mutating requests and journal the successful ones."""

    def __init__(
        self,
        app: WsgiApp,
        journal: Journal | None,
        *,
        exempt: Iterable[Exemption] = (),
        recorders: Iterable[Recorder] = (),
    ) -> None:
        self.app = app
        self.journal = journal
        self.exempt = tuple(exempt)
        self.recorders = tuple(recorders)
        # One mutation at a time, so the journal's order is the order moto applied them in.
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = buffered_body(environ)
        if self.journal is None or not is_mutating(environ, body, self.exempt):
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
                headers = captured.get("headers", [])
                created = _ids_created(environ, chunks, headers)
                for recorder in self.recorders:
                    created.update(recorder(environ, headers, chunks))
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


def replay(app: WsgiApp, path: Path, restorers: Iterable[Restorer] = ()) -> int:
    """Re-apply every journaled request to a fresh emulator; returns how many.

    After each record that succeeded, every ``restorer`` gets its header: it gives back
    what the first application created (an object version id, say)."""
    restorers = tuple(restorers)
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
            result = app(_replay_environ(header, body), start_response)
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
        if int(status.get("status", "500").split()[0]) >= 400:
            failures += 1
            log.warning("replay of %s %s answered %s", header["method"], header["path"], status)
        else:
            for restore in restorers:
                restore(header)
        count += 1
    if failures:
        log.warning("%d of %d journaled requests failed on replay", failures, count)
    return count


def truncate_torn_tail(path: Path) -> None:
    """Cut a torn last record off, or every record appended after it would be unreadable."""
    if not path.exists():
        return
    good = Journal.valid_length(path)
    if good < path.stat().st_size:
        log.warning("%s: truncating a torn tail at byte %d", path, good)
        with open(path, "r+b") as handle:
            handle.truncate(good)
