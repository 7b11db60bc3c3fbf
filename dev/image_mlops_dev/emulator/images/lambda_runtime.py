"""The Python Lambda runtime's part that calls a handler, run with the runtime profile's
Python (``lambda-python3.12``), never ours.

``python lambda_runtime.py <workdir>``: reads ``<workdir>/handler.json`` (the function's
handler, event, timeout, request id, log stream), puts the unpacked zip
(``LAMBDA_TASK_ROOT``) first on ``sys.path`` as the runtime puts ``/var/task``, imports the
handler, calls it with the event and a context object (the attributes of the runtime's
``LambdaContext`` that handlers use), and writes ``result.json``. The standard library and
the runtime's boto3 are all the handler gets besides its zip. It imports nothing of ours.
"""

import importlib
import json
import logging
import sys
import time
import traceback
from pathlib import Path


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, spec, stream):
        self.function_name = spec["FunctionName"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["FunctionArn"]
        self.memory_limit_in_mb = int(spec.get("MemorySize", 128))
        self.aws_request_id = spec["RequestId"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = stream
        self._deadline = time.monotonic() + float(spec.get("Timeout", 3))

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _write_result(workdir, **result):
    tmp = workdir / "result.json.tmp"
    tmp.write_text(json.dumps(result))
    tmp.replace(workdir / "result.json")


def main(workdir):
    spec = json.loads((workdir / "handler.json").read_text())
    sys.path.insert(0, spec["CodeDir"])
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="[%(levelname)s] %(message)s")
    module_name, _, function = spec["Handler"].rpartition(".")
    event = json.loads(spec["Payload"] or "null")
    context = LambdaContext(spec, spec["LogStream"])
    try:
        handler = getattr(importlib.import_module(module_name), function)
        result = handler(event, context)
        _write_result(workdir, status="ok", payload=json.dumps(result))
    except Exception as exc:
        error = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": spec["RequestId"],
            "stackTrace": traceback.format_exception(exc)[1:],
        }
        print(f"[ERROR] {type(exc).__name__}: {exc}", flush=True)
        _write_result(workdir, status="error", payload=json.dumps(error))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
