"""What runs inside the emulator's "containers": one subprocess per job or invocation.

The local emulator answers ``CreateTrainingJob``, ``CreateTransformJob`` and Lambda
``Invoke`` by starting ``python -m image_mlops_dev.emulator.containers <kind> <workdir>``
(no Docker: this virtualenv's packages stand in for the container image's). Each kind keeps
the contract of the AWS container it replaces, and does all of its I/O through the AWS APIs
of the emulator itself (``AWS_ENDPOINT_URL`` in its environment), as a container would:

* ``training`` — the SageMaker training toolkit's script mode: ``/opt/ml`` layout under the
  work folder (``input/config/*.json``, ``input/data/<channel>/`` from S3 prefixes or manifest
  files, ``model/``, ``output/``), ``SM_*`` variables, hyperparameters as ``--name value``
  arguments, the program from ``sagemaker_submit_directory``; its output goes to CloudWatch
  Logs (``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<epoch>``); on success
  ``model/`` becomes ``<S3OutputPath>/<job>/output/model.tar.gz``; on failure the reason is
  ``output/failure`` if the program wrote one, else the toolkit's ``AlgorithmError`` text;
* ``transform`` — SageMaker Batch Transform with the scikit-learn serving container: the
  model's ``code/inference.py`` (``model_fn``/``input_fn``/``predict_fn``/``output_fn``) over
  every input object (``SplitType``, ``BatchStrategy``, ``AssembleWith``), one
  ``<S3OutputPath>/<name>.out`` per input object;
* ``serving`` — a SageMaker endpoint's model server (one per production variant): fetches the
  model's artifact (the approved object version), refuses it unless its sha256 is the one in
  the model's environment (``IMAGE_MLOPS_ARTIFACT_SHA256``), then serves ``GET /ping`` and
  ``POST /invocations`` with the artifact's own ``code/inference.py`` (``image-mlops serve``'s
  server), the model's environment set as the container's; it runs until it is stopped and
  writes the port it listens on to ``port`` in its work folder;
* ``lambda`` — the Python Lambda runtime: the handler from the function's unpacked zip,
  called with the event (stdin) and a context object; its logs go to ``/aws/lambda/<name>``.

Each writes ``result.json`` into its work folder; the emulator reads it when the process ends.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("image_mlops.emulator.container")
#: CloudWatch Logs takes at most 10,000 events / 1 MB per PutLogEvents call.
_LOG_BATCH = 500
#: FailureReason is at most 1,024 characters on AWS.
_REASON_LIMIT = 1024


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def write_result(workdir: Path, **result: Any) -> None:
    tmp = workdir / "result.json.tmp"
    tmp.write_text(json.dumps(result))
    tmp.replace(workdir / "result.json")


class CloudWatchLog:
    """Lines to one CloudWatch Logs stream, sent in batches (as the container agent does)."""

    def __init__(self, group: str, stream: str) -> None:
        self.logs = _client("logs")
        self.group, self.stream = group, stream
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_group(logGroupName=group)
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        # lines reach CloudWatch within a second, as the container's log agent ships them
        threading.Thread(target=self._flush_every_second, daemon=True).start()

    def _flush_every_second(self) -> None:
        while True:
            time.sleep(1)
            with contextlib.suppress(Exception):  # the next flush (or the last) sends them
                self.flush()

    def write(self, line: str) -> None:
        with self._lock:
            self._events.append({"timestamp": int(time.time() * 1000), "message": line})
            full = len(self._events) >= _LOG_BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        with self._send_lock:  # one batch at a time keeps the stream's order
            with self._lock:
                events, self._events = self._events, []
            if events:
                self.logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=events
                )


def _pump(stream: Any, sink: CloudWatchLog, tail: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        sink.write(line)
        tail.append(line)
        del tail[:-40]


_children: list[subprocess.Popen] = []


def _end_children(signum: int, _frame: Any) -> None:
    """SIGTERM (a stop): the program gets it too, then this process ends."""
    for child in _children:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
    for child in _children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=8)
        if child.poll() is None:
            child.kill()
    os._exit(128 + signum)


def _spawn(command: list[str], *, cwd: Path | str, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _children.append(proc)
    return proc


def run_logged(command: list[str], *, cwd: Path, env: dict[str, str], sink: CloudWatchLog):
    """Run ``command``; its stdout and stderr go to ``sink``. Returns (exit code, last lines)."""
    tail: list[str] = []
    proc = _spawn(command, cwd=cwd, env=env)
    pump = threading.Thread(target=_pump, args=(proc.stdout, sink, tail), daemon=True)
    pump.start()
    code = proc.wait()
    pump.join()
    sink.flush()
    return code, tail


# --- S3 channels ----------------------------------------------------------------------------
def channel_objects(data_source: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(bucket, key, path inside the channel) of every object of an ``S3DataSource``."""
    s3 = _client("s3")
    uri = data_source["S3Uri"]
    kind = data_source.get("S3DataType", "S3Prefix")
    if kind == "ManifestFile":
        bucket, key = split_s3_uri(uri)
        entries = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        prefix_bucket, prefix = split_s3_uri(entries[0]["prefix"])
        for relative in entries[1:]:
            yield prefix_bucket, prefix + relative, relative
    elif kind == "S3Prefix":
        bucket, prefix = split_s3_uri(uri)
        base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield bucket, item["Key"], item["Key"][len(base) :]
    else:
        raise ValueError(f"S3DataType {kind} is not supported by the local emulator")


def download_channel(data_source: dict[str, Any], into: Path) -> int:
    from concurrent.futures import ThreadPoolExecutor

    s3 = _client("s3")
    into.mkdir(parents=True, exist_ok=True)

    def fetch(item: tuple[str, str, str]) -> None:
        bucket, key, relative = item
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))

    items = list(channel_objects(data_source))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fetch, items))
    return len(items)


def _tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def _decode_hyperparameter(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


# --- training -------------------------------------------------------------------------------
def run_training(workdir: Path, spec: dict[str, Any]) -> None:
    name = spec["TrainingJobName"]
    ml = workdir / "opt" / "ml"
    config_dir, data_dir = ml / "input" / "config", ml / "input" / "data"
    model_dir, output_dir, code_dir = ml / "model", ml / "output", ml / "code"
    for folder in (config_dir, data_dir, model_dir, output_dir / "data", code_dir):
        folder.mkdir(parents=True, exist_ok=True)
    sink = CloudWatchLog("/aws/sagemaker/TrainingJobs", f"{name}/algo-1-{int(time.time())}")
    hyperparameters = dict(spec.get("HyperParameters") or {})
    decoded = {k: _decode_hyperparameter(v) for k, v in hyperparameters.items()}
    program = decoded.get("sagemaker_program")
    submit_dir = decoded.get("sagemaker_submit_directory")
    if not program or not submit_dir:
        raise ContainerError(
            "ClientError: the local emulator runs script-mode jobs only: the hyperparameters "
            "sagemaker_program and sagemaker_submit_directory are required"
        )
    user_hps = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_")}
    channels = spec.get("InputDataConfig") or []
    resource = {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config_dir / "resourceconfig.json").write_text(json.dumps(resource))
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps(
            {c["ChannelName"]: {k: v for k, v in c.items() if k != "DataSource"} for c in channels}
        )
    )

    from botocore.exceptions import BotoCoreError, ClientError

    sink.write(f"Downloading {submit_dir}")
    bucket, key = split_s3_uri(submit_dir)
    try:
        source = _client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
            tar.extractall(code_dir, filter="data")
    except (ClientError, BotoCoreError, tarfile.TarError) as exc:
        raise ContainerError(f"ClientError: cannot read the source {submit_dir}: {exc}") from exc
    for channel in channels:
        source_spec = channel["DataSource"]["S3DataSource"]
        try:
            count = download_channel(source_spec, data_dir / channel["ChannelName"])
        except (ClientError, BotoCoreError, ValueError, KeyError, IndexError) as exc:
            raise ContainerError(
                f"ClientError: Data download failed for channel {channel['ChannelName']} "
                f"({source_spec['S3Uri']}): {exc}"
            ) from exc
        sink.write(f"channel {channel['ChannelName']}: {count} objects")

    user_args: list[str] = []
    for hp_name in sorted(user_hps):
        value = user_hps[hp_name]
        user_args += [f"--{hp_name}", value if isinstance(value, str) else json.dumps(value)]
    names = sorted(c["ChannelName"] for c in channels)
    env = {
        **os.environ,
        "PYTHONPATH": str(code_dir),
        "PYTHONUNBUFFERED": "1",
        "TRAINING_JOB_NAME": name,
        "TRAINING_JOB_ARN": spec["TrainingJobArn"],
        "SM_MODEL_DIR": str(model_dir),
        "SM_INPUT_DIR": str(ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_OUTPUT_DIR": str(output_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
        "SM_CHANNELS": json.dumps(names),
        "SM_HPS": json.dumps(user_hps),
        "SM_USER_ARGS": json.dumps(user_args),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": program.removesuffix(".py"),
        "SM_MODULE_DIR": submit_dir,
        "SM_CURRENT_HOST": "algo-1",
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_LOG_LEVEL": str(decoded.get("sagemaker_container_log_level", 20)),
        "SM_RESOURCE_CONFIG": json.dumps(resource),
        "SM_INPUT_DATA_CONFIG": (config_dir / "inputdataconfig.json").read_text(),
    }
    env.update({f"SM_CHANNEL_{c.upper()}": str(data_dir / c) for c in names})
    env.update({f"SM_HP_{k.upper()}": str(v) for k, v in user_hps.items()})
    command = [sys.executable, str(code_dir / program), *user_args]
    sink.write("Invoking script with the following command: " + " ".join(command[1:]))
    code, tail = run_logged(command, cwd=code_dir, env=env, sink=sink)
    if code != 0:
        failure = output_dir / "failure"
        if failure.is_file() and failure.read_text().strip():
            raise ContainerError(failure.read_text().strip())
        message = "\n".join(tail[-8:])
        raise ContainerError(
            f'AlgorithmError: ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{message}"\n'
            f'Command "{" ".join(command[1:])}"'
        )
    out_bucket, out_prefix = split_s3_uri(spec["OutputDataConfig"]["S3OutputPath"])
    out_prefix = (out_prefix.rstrip("/") + "/" if out_prefix else "") + f"{name}/output/"
    s3 = _client("s3")
    s3.put_object(Bucket=out_bucket, Key=out_prefix + "model.tar.gz", Body=_tar_gz(model_dir))
    if any((output_dir / "data").iterdir()):
        s3.put_object(
            Bucket=out_bucket, Key=out_prefix + "output.tar.gz", Body=_tar_gz(output_dir / "data")
        )
    sink.write(f"Uploaded s3://{out_bucket}/{out_prefix}model.tar.gz")
    sink.flush()


# --- batch transform ------------------------------------------------------------------------
def _records(body: bytes, split_type: str) -> list[bytes]:
    if split_type == "Line":
        return [line for line in body.split(b"\n") if line.strip()]
    if split_type in ("None", "", None):
        return [body]
    raise ContainerError(f"ClientError: SplitType {split_type} is not supported locally")


def run_transform(workdir: Path, spec: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from image_mlops.serving.artifact import ArtifactError, LoadedModel, extract

    name = spec["TransformJobName"]
    sink = CloudWatchLog("/aws/sagemaker/TransformJobs", f"{name}/i-local-{int(time.time())}")
    s3 = _client("s3")
    model_url = spec["ModelDataUrl"]
    bucket, key = split_s3_uri(model_url)
    archive = workdir / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    try:
        model = LoadedModel(extract(archive, workdir / "model"))
    except ArtifactError as exc:
        raise ContainerError(f"ClientError: the model could not be loaded: {exc}") from exc
    sink.write(f"loaded {model_url}")
    transform_input, transform_output = spec["TransformInput"], spec["TransformOutput"]
    content_type = transform_input.get("ContentType", "application/json")
    accept = transform_output.get("Accept", "application/json")
    split_type = transform_input.get("SplitType", "None")
    joiner = b"\n" if transform_output.get("AssembleWith") == "Line" else b""
    multi = spec.get("BatchStrategy") == "MultiRecord"
    limit = int(spec.get("MaxPayloadInMB") or 6) * 1024 * 1024
    out_bucket, out_prefix = split_s3_uri(transform_output["S3OutputPath"])
    out_prefix = out_prefix.rstrip("/") + "/" if out_prefix else ""
    objects = list(channel_objects(transform_input["DataSource"]["S3DataSource"]))

    def requests(records: list[bytes]) -> list[bytes]:
        if not multi:
            return records
        packed, current = [], b""
        for record in records:
            if current and len(current) + 1 + len(record) > limit:
                packed.append(current)
                current = b""
            current = current + b"\n" + record if current else record
        return packed + ([current] if current else [])

    def transform_object(item: tuple[str, str, str]) -> None:
        in_bucket, in_key, relative = item
        body = s3.get_object(Bucket=in_bucket, Key=in_key)["Body"].read()
        answers = []
        for request in requests(_records(body, split_type)):
            if len(request) > limit:
                raise ContainerError(
                    f"ClientError: a record of {in_key} is larger than MaxPayloadInMB"
                )
            try:
                answers.append(model.invoke(request, content_type, accept).rstrip(b"\n"))
            except Exception as exc:
                raise ContainerError(
                    f"ClientError: the model container failed on s3://{in_bucket}/{in_key}: {exc!r}"
                ) from exc
        output = joiner.join(answers) + (joiner if answers and joiner else b"")
        s3.put_object(Bucket=out_bucket, Key=out_prefix + relative + ".out", Body=output)
        sink.write(f"{in_key}: {len(answers)} request(s)")

    workers = max(1, int(spec.get("MaxConcurrentTransforms") or 1))
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        list(pool.map(transform_object, objects))
    sink.write(f"transformed {len(objects)} object(s)")
    sink.flush()


# --- serving ------------------------------------------------------------------------------
class _ServedModel:
    """The server's invoker: one loaded artifact."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def ready(self) -> bool:
        return True

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        return self.model.invoke(body, content_type, accept)


def fetch_approved_artifact(spec: dict[str, Any], into: Path) -> Path:
    """Download the model's artifact (its approved version) and check its sha256."""
    import hashlib

    from image_mlops.serving.integrity import ENV_ARTIFACT_SHA256, ENV_ARTIFACT_VERSION_ID

    environment = spec.get("Environment") or {}
    expected = environment.get(ENV_ARTIFACT_SHA256, "")
    url = spec["ModelDataUrl"]
    if len(expected) != 64:
        raise ContainerError(
            f"ClientError: the model serving {url} carries no approved sha256 "
            f"({ENV_ARTIFACT_SHA256}): deploy it with the deploy_model DAG"
        )
    bucket, key = split_s3_uri(url)
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if environment.get(ENV_ARTIFACT_VERSION_ID):
        request["VersionId"] = environment[ENV_ARTIFACT_VERSION_ID]
    body = _client("s3").get_object(**request)["Body"].read()
    found = hashlib.sha256(body).hexdigest()
    if found != expected:
        raise ContainerError(
            f"ClientError: {url} has sha256 {found}, but sha256 {expected} was approved: "
            "the model server refuses to load it"
        )
    archive = into / "model.tar.gz"
    archive.write_bytes(body)
    return archive


def run_serving(workdir: Path, spec: dict[str, Any]) -> None:
    from image_mlops.serving.artifact import ArtifactError, LoadedModel, extract
    from image_mlops.serving.server import make_server

    archive = fetch_approved_artifact(spec, workdir)
    os.environ.update(spec.get("Environment") or {})  # the model's container environment
    try:
        model = LoadedModel(extract(archive, workdir / "model"))
    except ArtifactError as exc:
        raise ContainerError(f"ClientError: the model could not be loaded: {exc}") from exc
    archive.unlink(missing_ok=True)
    server = make_server(_ServedModel(model), port=0)
    tmp = workdir / "port.tmp"
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(workdir / "port")
    log.info("serving %s on port %s", spec["ModelDataUrl"], server.server_address[1])
    server.serve_forever()


# --- lambda ---------------------------------------------------------------------------------
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, spec: dict[str, Any], stream: str) -> None:
        self.function_name = spec["FunctionName"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["FunctionArn"]
        self.memory_limit_in_mb = int(spec.get("MemorySize", 128))
        self.aws_request_id = spec["RequestId"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = stream
        self._deadline = time.monotonic() + float(spec.get("Timeout", 3))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def run_lambda_handler(workdir: Path, spec: dict[str, Any]) -> None:
    """In the invocation's own process: import the handler, call it, write result.json."""
    code_dir = Path(spec["CodeDir"])
    sys.path.insert(0, str(code_dir))
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="[%(levelname)s] %(message)s")
    module_name, _, function = spec["Handler"].rpartition(".")
    event = json.loads(spec["Payload"] or "null")
    context = LambdaContext(spec, spec["LogStream"])
    try:
        handler = getattr(importlib.import_module(module_name), function)
        result = handler(event, context)
        write_result(workdir, status="ok", payload=json.dumps(result))
    except Exception as exc:
        error = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": spec["RequestId"],
            "stackTrace": traceback.format_exception(exc)[1:],
        }
        print(f"[ERROR] {type(exc).__name__}: {exc}", flush=True)
        write_result(workdir, status="error", payload=json.dumps(error))


def run_lambda(workdir: Path, spec: dict[str, Any]) -> None:
    """The invocation, as the Lambda service runs it: START/END/REPORT lines around the
    handler's own process, its output to CloudWatch Logs, and the timeout enforced."""
    day = time.strftime("%Y/%m/%d", time.gmtime())
    stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
    spec["LogStream"] = stream
    (workdir / "handler.json").write_text(json.dumps(spec))
    sink = CloudWatchLog(f"/aws/lambda/{spec['FunctionName']}", stream)
    sink.write(f"START RequestId: {spec['RequestId']} Version: $LATEST")
    env = {**os.environ, **(spec.get("Environment") or {})}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec["FunctionName"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.get("MemorySize", 128)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec['FunctionName']}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "LAMBDA_TASK_ROOT": spec["CodeDir"],
            "PYTHONUNBUFFERED": "1",
        }
    )
    command = [
        sys.executable,
        "-m",
        "image_mlops_dev.emulator.containers",
        "lambda-handler",
        str(workdir),
    ]
    started = time.monotonic()
    timeout = float(spec.get("Timeout", 3))
    tail: list[str] = []
    proc = _spawn(command, cwd=spec["CodeDir"], env=env)
    pump = threading.Thread(target=_pump, args=(proc.stdout, sink, tail), daemon=True)
    pump.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = f"{now} {spec['RequestId']} Task timed out after {timeout:.2f} seconds"
        sink.write(message)
        write_result(
            workdir,
            status="error",
            payload=json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}),
        )
    pump.join()
    elapsed = (time.monotonic() - started) * 1000
    sink.write(f"END RequestId: {spec['RequestId']}")
    sink.write(f"REPORT RequestId: {spec['RequestId']}\tDuration: {elapsed:.2f} ms")
    sink.flush()
    if not (workdir / "result.json").exists():
        write_result(
            workdir,
            status="error",
            payload=json.dumps(
                {
                    "errorMessage": f"RequestId: {spec['RequestId']} Error: Runtime exited with "
                    f"error: exit status {proc.returncode}",
                    "errorType": "Runtime.ExitError",
                }
            ),
        )
    result = json.loads((workdir / "result.json").read_text())
    result["log_tail"] = base64.b64encode("\n".join(tail[-20:]).encode()[-4096:]).decode()
    write_result(workdir, **result)


class ContainerError(RuntimeError):
    """The job failed; the message is its FailureReason."""


RUNNERS = {
    "training": run_training,
    "transform": run_transform,
    "lambda": run_lambda,
    "serving": run_serving,
}


def main(argv: list[str] | None = None) -> int:
    kind, workdir = (argv or sys.argv[1:])[:2]
    root = Path(workdir)
    spec = json.loads(
        (root / ("handler.json" if kind == "lambda-handler" else "spec.json")).read_text()
    )
    if kind == "lambda-handler":
        run_lambda_handler(root, spec)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _end_children)
    try:
        RUNNERS[kind](root, spec)
    except ContainerError as exc:
        write_result(root, status="Failed", failure_reason=str(exc)[:_REASON_LIMIT])
        return 1
    except Exception as exc:  # the platform's own failure, not the program's
        log.exception("%s job failed", kind)
        write_result(
            root,
            status="Failed",
            failure_reason=f"InternalServerError: {type(exc).__name__}: {exc}"[:_REASON_LIMIT],
        )
        return 1
    if kind != "lambda":
        write_result(root, status="Completed")
    shutil.rmtree(root / "opt" / "ml" / "input" / "data", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
