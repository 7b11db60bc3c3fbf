"""Lambda ``Invoke`` of a Python function: the handler runs from the function's zip.

moto runs Lambda functions (also those a Step Functions execution calls) in Docker only. This
WSGI layer, in front of moto, runs a Python function's handler in a container process
(:mod:`image_mlops_dev.emulator.containers`, kind ``lambda``): ``RequestResponse``, ``Event``,
``DryRun``; ``FunctionError`` and ``X-Amz-Log-Result`` as on AWS. An invocation is not
journaled: its effects are the requests it makes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from image_mlops_dev.emulator.http.wsgi import WsgiApp, buffered_body, json_response
from image_mlops_dev.emulator.platform import Platform

LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>.+)/invocations/?$")


def is_lambda_invoke(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(
        LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
    )


class LambdaInvocations:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        match = LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
        if match and environ.get("REQUEST_METHOD") == "POST":
            return self._invoke(unquote(match.group("name")), environ, start_response)
        return self.app(environ, start_response)

    def _invoke(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.models import lambda_backends

        payload = buffered_body(environ)
        qualifier = dict(
            p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p
        ).get("Qualifier")
        function = None
        for per_region in lambda_backends.values():
            for backend in per_region.values():
                try:
                    function = backend.get_function(name, qualifier)
                    break
                except LambdaClientError:
                    continue
            if function is not None:
                break
        if function is None:
            body = json.dumps(
                {"__type": "ResourceNotFoundException", "Message": f"Function not found: {name}"}
            ).encode()
            start_response(
                "404 Not Found",
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-ErrorType", "ResourceNotFoundException"),
                ],
            )
            return [body]
        invocation = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if invocation == "DryRun":
            start_response("204 No Content", [])
            return [b""]
        if not (function.run_time or "").startswith("python"):
            return json_response(
                start_response,
                "400 Bad Request",
                {
                    "__type": "InvalidRuntimeException",
                    "Message": "the local emulator runs Python functions only, "
                    f"not {function.run_time}",
                },
            )
        request_id = str(uuid.uuid4())
        spec = {
            "FunctionName": function.function_name,
            "FunctionArn": function.function_arn,
            "Role": function.role,
            "Handler": function.handler,
            "Runtime": function.run_time,
            "Timeout": function.timeout,
            "MemorySize": function.memory_size,
            "Environment": dict(function.environment_vars or {}),
            "RequestId": request_id,
            "CodeDir": str(self._unpack_code(function)),
            "Payload": payload.decode("utf-8") if payload else "null",
        }
        workdir = self.platform.workdir / "lambda" / request_id
        if invocation == "Event":
            threading.Thread(
                target=self._run_invocation, args=(workdir, spec, function.region), daemon=True
            ).start()
            start_response("202 Accepted", [("x-amzn-RequestId", request_id)])
            return [b""]
        result = self._run_invocation(workdir, spec, function.region)
        body = result["payload"].encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if result["status"] != "ok":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
            headers.append(("X-Amz-Log-Result", result.get("log_tail", "")))
        start_response("200 OK", headers)
        return [body]

    def _unpack_code(self, function: Any) -> Path:
        digest = hashlib.sha256(function.code_bytes).hexdigest()[:16]
        target = self.platform.workdir / "lambda-code" / f"{function.function_name}-{digest}"
        if not (target / ".unpacked").exists():
            tmp = target.with_name(target.name + f".tmp-{uuid.uuid4().hex[:6]}")
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(tmp)
            (tmp / ".unpacked").write_text("ok")
            try:
                tmp.rename(target)
            except OSError:  # another invocation unpacked it first
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _run_invocation(self, workdir: Path, spec: dict[str, Any], region: str) -> dict[str, Any]:
        try:
            env = self.platform.container_environment(region, self.credentials_for(spec))
        except PermissionError as exc:
            return {
                "status": "error",
                "payload": json.dumps(
                    {"errorMessage": str(exc), "errorType": "Runtime.InvalidRole"}
                ),
            }
        process = self.platform.start_container("lambda", workdir, spec, env)
        process.wait()
        try:
            return json.loads((workdir / "result.json").read_text())
        except (OSError, ValueError):
            return {
                "status": "error",
                "payload": json.dumps(
                    {
                        "errorMessage": "the invocation ended without a result",
                        "errorType": "Runtime.ExitError",
                    }
                ),
            }
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def credentials_for(self, spec: dict[str, Any]) -> dict[str, str]:
        """The credentials the function's code runs with: its execution role's, in the
        environment variables the Lambda runtime sets."""
        return self.platform.role_environment(
            spec["Role"], "lambda.amazonaws.com", spec["FunctionName"]
        )
