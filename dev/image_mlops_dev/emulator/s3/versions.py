"""S3 object version ids that survive a restart.

moto draws a random id for every write to a versioned bucket, so a replayed journal would give
each object version a new id, and an id recorded elsewhere (the approved artifact version in
a SageMaker model's environment) would no longer resolve. The journal keeps the id each write
was given (``version_id`` in its record); :func:`restore_from_journal` gives it back.
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.s3.rules import bucket_and_key


def restore_version_id(bucket_name: str, key_name: str, version_id: str) -> bool:
    """Give the newest version of ``key_name`` (an object or a delete marker) the id it had
    when the journaled request was first applied; ``False`` when there is no such key."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(bucket_name)
    versions = bucket.keys.getlist(key_name, []) if bucket is not None else []
    if not versions:
        return False
    versions[-1]._version_id = version_id
    return True


def restore_from_journal(header: dict[str, Any]) -> None:
    """The replay's restorer: a record that created a version gets its id back."""
    if "version_id" in header:
        bucket, key = bucket_and_key(header["path"])
        if key:
            restore_version_id(bucket, key, header["version_id"])
