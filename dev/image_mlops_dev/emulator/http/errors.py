"""Error responses in each AWS wire protocol, as botocore reads them.

* ``rest-xml`` (S3): ``<Error><Code/><Message/></Error>``;
* ``query`` (SNS, IAM, STS, CloudFormation): ``<ErrorResponse><Error><Type/><Code/><Message/>
  </Error></ErrorResponse>``;
* ``json`` (SageMaker, CloudWatch Logs, Step Functions, ...): ``{"__type", "message"}`` and
  the ``x-amzn-ErrorType`` header; for a service that is "query compatible" (CloudWatch,
  SQS) also ``x-amzn-query-error: <code>;Sender``, the code its query API had;
* ``rest-json`` (Lambda): the ``x-amzn-ErrorType`` header and ``{"Type", "Message"}``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from image_mlops_dev.emulator.http.wsgi import StartResponse


def error_response(
    start_response: StartResponse,
    protocol: str,
    status: int,
    code: str,
    message: str,
    *,
    query_compatible: bool = False,
    extra: dict[str, Any] | None = None,
) -> list[bytes]:
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "rest-xml":
        fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in (extra or {}).items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>{fields}"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    elif protocol in ("query", "ec2"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-json":
        body = json.dumps({"Type": "User", "Message": message, **(extra or {})}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    else:  # json
        body = json.dumps({"__type": code, "message": message, **(extra or {})}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        if query_compatible:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [body]


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
