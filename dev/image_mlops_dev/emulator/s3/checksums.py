"""HeadObject's checksum of a multipart object as S3 gives it: ``<checksum of checksums>-<parts>``.

An object uploaded in parts with a composite checksum type has no checksum of its whole
bytes: S3 keeps a checksum of the parts' checksums and gives it followed by the number of
parts (``...=-3``), with ``ChecksumType: COMPOSITE``. The S3 User Guide, "Checking object
integrity in Amazon S3"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html),
section on multipart uploads; the S3 API Reference, data type ``Checksum``
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_Checksum.html): "When you use an API
operation on an object that was uploaded using multipart uploads, this value may not be a
direct checksum value of the full object. Instead, it's a calculation based on the checksum
values of each individual part." HeadObject answers the checksum with ``ChecksumMode=ENABLED``
as GetObject does (the API Reference, HeadObject,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html: ``x-amz-checksum-*``,
``x-amz-checksum-type``).

moto 5.2.5 does so for GetObject; its HeadObject answers the composite value without the
part count and without the type, which reads as a checksum of the full object. Here
HeadObject answers as GetObject does.

Tested in ``tests/integration/test_emulator_s3_etags.py``.
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import original, patch


def apply() -> None:
    from moto.s3.responses import S3Response

    head_object = original(S3Response, "head_object")

    def head_object_with_checksum_type(
        self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: dict
    ) -> Any:
        status, response_headers, body = head_object(self, bucket_name, query, key_name, headers)
        if status != 200 or headers.get("x-amz-checksum-mode") != "ENABLED":
            return status, response_headers, body
        version_id = query.get("versionId", [None])[0]
        key = self.backend.head_object(bucket_name, key_name, version_id=version_id)
        if key is None or not key.checksum_algorithm or not key.checksum_type:
            return status, response_headers, body
        if key.checksum_type == "COMPOSITE" and key.checksum_parts:
            name = f"x-amz-checksum-{key.checksum_algorithm.lower()}"
            response_headers[name] = f"{key.checksum_value}-{key.checksum_parts}"
        response_headers["x-amz-checksum-type"] = key.checksum_type
        return status, response_headers, body

    patch(S3Response, "head_object", head_object_with_checksum_type)
