"""The validation layer: every request's parameters are checked against the service's API
model, as the service checks them, before it is applied.

botocore checks only types and required members on the client's side, and moto checks
nothing, so a value the service refuses (a name too long, a character outside a pattern)
passed locally and failed on AWS. This layer walks the operation's input shape (botocore's
model, the one the request was parsed with) and checks what the model constrains: required
members, string and blob lengths (``min``/``max``), patterns (``pattern``, Java regular
expressions with ``\\p{...}`` classes, matched whole with the ``regex`` library), enums,
numeric ranges, and list and map sizes. A request that breaks any is answered as the
services' request validation (AWS's "Coral" framework) answers it:

    1 validation error detected: Value 'a,b' at 'customerMetadataProperties.reason'
    failed to satisfy constraint: Member must satisfy regular expression pattern: ...

with the service's own error code (:data:`ERROR_CODES`). Amazon S3 is not checked here: its
API model constrains little, and its own rules (key length, metadata size) are the s3
package's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from image_mlops_dev.emulator.http.errors import error_response
from image_mlops_dev.emulator.http.operations import operation_of
from image_mlops_dev.emulator.http.wsgi import StartResponse, WsgiApp

log = logging.getLogger("image_mlops.emulator.validation")

#: Services whose requests are not checked here (see the module docstring).
NOT_CHECKED = frozenset({"s3"})
#: The error each service answers an invalid request with: (code, HTTP status). JSON
#: services answer ``ValidationException``; the query services answer ``ValidationError``,
#: SNS ``InvalidParameter`` and SQS ``InvalidParameterValue`` (their API references,
#: "Common errors").
ERROR_CODES = {
    "sns": ("InvalidParameter", 400),
    "sqs": ("InvalidParameterValue", 400),
    "iam": ("ValidationError", 400),
    "sts": ("ValidationError", 400),
    "cloudformation": ("ValidationError", 400),
    "cloudwatch": ("ValidationError", 400),
}
DEFAULT_ERROR = ("ValidationException", 400)
_MAX_SHOWN = 200


@lru_cache(maxsize=2048)
def _pattern(pattern: str) -> Any:
    import regex

    try:
        return regex.compile(pattern, regex.VERSION1)
    except regex.error:
        try:
            return regex.compile(pattern)
        except regex.error:
            log.warning("pattern %r of the API model cannot be compiled: not checked", pattern)
            return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    elif isinstance(value, bytes | bytearray):
        text = f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    else:
        text = str(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def violations(shape: Any, value: Any, path: str = "") -> Iterator[str]:
    """The constraints ``value`` breaks, each as Coral words it."""
    if shape is None or value is None:
        return
    meta = getattr(shape, "metadata", {}) or {}
    kind = shape.type_name

    def broken(constraint: str) -> str:
        return (
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            f"Member must {constraint}"
        )

    if kind == "structure":
        if not isinstance(value, dict):
            return
        for name in getattr(shape, "required_members", []) or []:
            if value.get(name) is None:
                member = f"{path}.{_camel(name)}" if path else _camel(name)
                yield (
                    f"Value null at '{member}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if name in value:
                yield from violations(
                    member, value[name], f"{path}.{_camel(name)}" if path else _camel(name)
                )
        return
    if kind == "list":
        if not isinstance(value, list):
            return
        if "min" in meta and len(value) < meta["min"]:
            yield broken(f"have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            yield broken(f"have length less than or equal to {meta['max']}")
        for index, item in enumerate(value, start=1):
            yield from violations(shape.member, item, f"{path}.{index}.member")
        return
    if kind == "map":
        if not isinstance(value, dict):
            return
        if "min" in meta and len(value) < meta["min"]:
            yield broken(f"have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            yield broken(f"have length less than or equal to {meta['max']}")
        for key, item in value.items():
            yield from violations(shape.key, key, f"{path}.{key}.key")
            yield from violations(shape.value, item, f"{path}.{key}")
        return
    if kind in ("string", "blob"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            yield broken(f"have length greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            yield broken(f"have length less than or equal to {meta['max']}")
        if kind == "string":
            enum = getattr(shape, "enum", None) or []
            if enum and value not in enum:
                yield broken(f"satisfy enum value set: [{', '.join(enum)}]")
            if meta.get("pattern") and isinstance(value, str):
                compiled = _pattern(meta["pattern"])
                if compiled is not None and compiled.fullmatch(value) is None:
                    yield broken(f"satisfy regular expression pattern: {meta['pattern']}")
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "min" in meta and value < meta["min"]:
            yield broken(f"have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            yield broken(f"have value less than or equal to {meta['max']}")


def message(found: list[str]) -> str:
    count = len(found)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(found)


class Validation:
    """The WSGI layer (see the module docstring)."""

    def __init__(self, app: WsgiApp, *, skip: Callable[[dict[str, Any]], bool] | None = None):
        self.app = app
        self.skip = skip

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        operation = operation_of(environ)
        if operation is None or operation.service in NOT_CHECKED:
            return self.app(environ, start_response)
        if self.skip is not None and self.skip(environ):
            return self.app(environ, start_response)
        found = list(violations(operation.model.input_shape, operation.params))
        if not found:
            return self.app(environ, start_response)
        code, status = ERROR_CODES.get(operation.service, DEFAULT_ERROR)
        text = message(found)
        log.warning("invalid %s.%s: %s", operation.service, operation.name, text)
        return error_response(start_response, operation.protocol or "json", status, code, text)
