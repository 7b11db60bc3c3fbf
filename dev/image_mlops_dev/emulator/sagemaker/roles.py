"""SageMaker refuses a role it cannot assume when a job or model is created.

A ``CreateTrainingJob``, ``CreateProcessingJob`` or ``CreateModel`` whose role does not exist,
or whose trust policy does not let ``sagemaker.amazonaws.com`` assume it, is refused at once
with SageMaker's ``ValidationException``: "Could not assume role <ARN>. Please ensure that
the role exists and allows principal 'sagemaker.amazonaws.com' to assume the role." (moto
accepts any ARN.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from image_mlops_dev.emulator.http.wsgi import WsgiApp, buffered_body, json_response
from image_mlops_dev.emulator.platform import Platform

SAGEMAKER = "sagemaker.amazonaws.com"
#: operation → the parameter holding the role
ROLE_OF = {
    "SageMaker.CreateTrainingJob": "RoleArn",
    "SageMaker.CreateProcessingJob": "RoleArn",
    "SageMaker.CreateModel": "ExecutionRoleArn",
}


class ExecutionRoles:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        field = ROLE_OF.get(environ.get("HTTP_X_AMZ_TARGET", ""))
        if field is None or self.platform.replaying:
            return self.app(environ, start_response)
        role = json.loads(buffered_body(environ) or b"{}").get(field) or ""
        try:
            self.platform.role_environment(role, SAGEMAKER, "SageMaker")
        except PermissionError:
            return json_response(
                start_response,
                "400 Bad Request",
                {
                    "__type": "ValidationException",
                    "message": f"Could not assume role {role}. Please ensure that the role "
                    f"exists and allows principal '{SAGEMAKER}' to assume the role.",
                },
            )
        return self.app(environ, start_response)
