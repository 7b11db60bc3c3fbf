"""Compaction of the emulator's journal: S3 writes nothing needs any more are dropped.

The journal records every successful mutating request, so it grows with every claim marker,
result file and overwritten object. When the emulator starts, before it replays, the journal
is rewritten without the S3 records whose effect a later record undoes and that nothing reads
in between:

* a PutObject or CopyObject of a key that a later PutObject, CopyObject or delete of the same
  key supersedes, unless the key was read in between (the source of a copy or of an
  UploadPartCopy, or named in a Lambda function's request, which moto reads from S3 at once);
* a delete of a key that, once those writes are gone, holds nothing;
* a second delete of a key already deleted.

Everything else is kept as it was, in order: other services, bucket operations, multipart
uploads, tags and ACLs (reads of the key, for this purpose), and every key of a versioned
bucket (its versions stay addressable by id). Replaying the compacted journal gives the same
state as replaying the whole one (``tests/integration/test_emulator.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from image_mlops_dev.emulator.http.journal import Journal, strip_credentials
from image_mlops_dev.emulator.s3.rules import bucket_and_key, copy_source, is_s3_request

_KEYS_IN_DELETE = re.compile(rb"<Key>([^<]*)</Key>")
_LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions")


def droppable(records: list[tuple[dict[str, Any], bytes]]) -> set[int]:
    """Indexes of the records compaction leaves out (see the module docstring)."""
    drop: set[int] = set()
    pending: dict[tuple[str, str], tuple[int, str]] = {}  # key → (record, "write"|"delete")
    exists: dict[tuple[str, str], bool] = {}  # a kept record may have left an object there
    versioned: set[str] = set()

    def keep(key: tuple[str, str]) -> None:
        """``key`` is read here: its pending record is needed."""
        held = pending.pop(key, None)
        if held is not None:
            exists[key] = held[1] == "write"

    for index, (header, body) in enumerate(records):
        environ = {**header["headers"], "QUERY_STRING": header["query"]}
        if not is_s3_request(environ):
            if _LAMBDA_PATH.match(header["path"]):
                for key in [k for k in pending if k[1] and k[1].encode() in body]:
                    keep(key)
            continue
        method = header["method"].upper()
        query = parse_qs(header["query"], keep_blank_values=True)
        bucket, name = bucket_and_key(header["path"])
        if not name:
            if method == "PUT" and "versioning" in query and b"Enabled" in body:
                versioned.add(bucket)
            if method == "POST" and "delete" in query:  # DeleteObjects: a kept batch delete
                for raw in _KEYS_IN_DELETE.findall(body):
                    key = (bucket, unquote(raw.decode("utf-8", "replace")))
                    held = pending.pop(key, None)
                    if held is not None and held[1] == "write":
                        drop.add(held[0])
                    exists[key] = False
            continue
        source = header["headers"].get("HTTP_X_AMZ_COPY_SOURCE")
        if source:
            keep(copy_source(source)[:2])
        key = (bucket, name)
        if bucket in versioned:
            keep(key)
            continue
        plain = not query  # PutObject / CopyObject / DeleteObject, no sub-resource
        if method == "PUT" and plain:
            held = pending.pop(key, None)
            if held is not None:
                drop.add(held[0])
            pending[key] = (index, "write")
        elif method == "DELETE" and plain:
            held = pending.pop(key, None)
            if held is not None:
                drop.add(held[0])
            if held is not None and held[1] == "delete":
                drop.add(index)  # deleted already
            elif not exists.get(key, False):
                drop.add(index)  # nothing kept is there to delete
                exists[key] = False
            else:
                pending[key] = (index, "delete")
        else:  # multipart, tagging, ACL, ...: the key's state matters here
            keep(key)
            if method == "POST" and "uploadId" in query:
                exists[key] = True
    return drop


def compact(path: Path) -> tuple[int, int]:
    """Rewrite ``path`` without the droppable records (atomically); ``(before, after)``."""
    records = list(Journal.read(path))
    drop = droppable(records)
    # a journal written before credentials were left out of it is rewritten without them
    scrubbed = sum(strip_credentials(header) for header, _ in records)
    if not drop and not scrubbed:
        return len(records), len(records)
    tmp = path.with_name(path.name + ".compacting")
    journal = Journal(tmp)
    try:
        for index, (header, body) in enumerate(records):
            if index not in drop:
                journal.write_record(header, body)
    finally:
        journal.close()
    os.replace(tmp, path)
    return len(records), len(records) - len(drop)
