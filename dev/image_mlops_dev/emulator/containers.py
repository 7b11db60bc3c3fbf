"""What runs inside the emulator's "containers": one process per job, server or invocation.

The local emulator answers ``CreateTrainingJob``, ``CreateTransformJob``, ``CreateEndpoint``
and Lambda ``Invoke`` by starting ``python -m image_mlops_dev.emulator.containers <kind>
<workdir>``: the platform's part (what SageMaker and Lambda do around a container), with our
Python. It does its I/O through the emulator's own AWS APIs (``AWS_ENDPOINT_URL``) with the
job's role, and runs the program itself with the image's Python and packages: its container
profile (:mod:`.images`: vermin's check of the program against the image's Python, the
profile's cached virtualenv, a virtualenv of the container's own over it), with no package
index and nothing of our virtualenv on its path.

* ``training`` — the ``/opt/ml`` layout under the work folder (``input/config/*.json``,
  ``input/data/<channel>/`` from S3 prefixes or manifest files), then the image's own entry
  point, sagemaker-training's trainer (``SAGEMAKER_BASE_DIR``; ``SM_STUDIO_LOCAL_MODE`` skips
  its wait for the cluster's host names): it downloads ``sagemaker_submit_directory``, sets
  the ``SM_*`` variables and runs the program. Output goes to CloudWatch Logs
  (``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<epoch>``); on success ``model/``
  becomes ``<S3OutputPath>/<job>/output/model.tar.gz``; on failure the reason is
  ``AlgorithmError: `` and ``output/failure`` (the toolkit's or the program's);
* ``transform`` — SageMaker Batch Transform: the model's image's server (as ``serving``)
  gets every record of every input object as a ``POST /invocations`` (``SplitType``,
  ``BatchStrategy``, ``AssembleWith``), one ``<S3OutputPath>/<name>.out`` per input object;
* ``serving`` — a SageMaker endpoint's model server (one per production variant): fetches the
  model's artifact (the approved object version), refuses it unless its sha256 is the one in
  the model's environment (``IMAGE_MLOPS_ARTIFACT_SHA256``), extracts it into
  ``/opt/ml/model`` and starts the image's server (the profile's ``serving``:
  sagemaker-containers' gunicorn app, or TorchServe) with the model's environment; it runs
  until it is stopped and writes the port it listens on to ``port`` in its work folder;
* ``lambda`` — the Python Lambda runtime: START/END/REPORT around the handler's own process
  (``images/lambda_runtime.py`` on the runtime's Python, with the function's unpacked zip),
  its logs to ``/aws/lambda/<name>``, the timeout enforced.

Each writes ``result.json`` into its work folder; the emulator reads it when the process ends.
"""

from __future__ import annotations

import base64
import contextlib
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
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from image_mlops_dev.emulator import images
from image_mlops_dev.stack.processes import free_port

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
        if not line:  # PutLogEvents refuses an empty message (its minimum length is 1)
            return
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


def _container_processes() -> list[Any]:
    """Every process this one started, their children included (psutil)."""
    import psutil

    found = []
    for child in _children:
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(child.pid)
            found += [parent, *parent.children(recursive=True)]
    return found


def _end_children(signum: int, _frame: Any) -> None:
    """SIGTERM (a stop): every process of the container gets it, as ``docker stop`` sends it,
    then SIGKILL for those still running after the grace period; then this process ends.

    The container's processes stay in the emulator's process group, so that the emulator's
    own end (a group signal) ends them too."""
    import psutil

    processes = _container_processes()
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _gone, alive = psutil.wait_procs(processes, timeout=8)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
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


# --- the image ------------------------------------------------------------------------------
def image_python(
    image: str, program: Path | None, workdir: Path, sink: CloudWatchLog | None = None
) -> tuple[Path, Path, images.Profile]:
    """The Python that runs ``program`` (a folder) in ``image``, the image's virtualenv and
    its profile.

    The image's profile, vermin's check of the program against the image's Python, the
    profile's cached virtualenv (built now if it is not yet, with ``image-building`` in the
    work folder meanwhile: the endpoint's readiness wait counts from the end of a build), and
    this container's own virtualenv over it. :class:`ContainerError` if any refuses."""
    try:
        profile = images.profile_for(image)
        if program is not None:
            images.check_python(profile, program)
        building = workdir / "image-building"
        building.touch()
        try:
            cache = Path(os.environ.get(images.VENVS_ENV) or workdir.parent / "container-venvs")
            image_venv = images.environment(profile, cache)
        finally:
            building.unlink(missing_ok=True)
    except images.ImageError as exc:
        raise ContainerError(str(exc)) from exc
    if sink is not None:
        sink.write(f"image {image}: profile {profile.name}, Python {profile.python}")
    python = images.container_python(image_venv, workdir / "container-venv")
    return python, image_venv, profile


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

    # the platform reads the source once to check it against the image's Python; the
    # image's toolkit downloads it again into /opt/ml/code, as on AWS
    source_check = workdir / "source-check"
    bucket, key = split_s3_uri(submit_dir)
    try:
        source = _client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
            tar.extractall(source_check, filter="data")
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

    image = spec["AlgorithmSpecification"]["TrainingImage"]
    python, image_venv, _ = image_python(image, source_check, workdir, sink)
    # The image's entry point: sagemaker-training's trainer (SAGEMAKER_TRAINING_MODULE names
    # the framework's wrapper, which only calls the same entry_point.run; without it the
    # trainer calls entry_point.run itself). It reads /opt/ml under SAGEMAKER_BASE_DIR,
    # downloads sagemaker_submit_directory from S3, sets the SM_* variables, runs the program
    # with the hyperparameters as --name value arguments, and writes output/failure on error.
    env = images.program_environment(
        image_venv,
        python,
        {
            "SAGEMAKER_BASE_DIR": str(ml),
            # skips the wait until the job's host names (algo-1) resolve in a cluster's DNS
            "SM_STUDIO_LOCAL_MODE": "true",
            "TRAINING_JOB_NAME": name,
            "TRAINING_JOB_ARN": spec["TrainingJobArn"],
            **{k: str(v) for k, v in (spec.get("Environment") or {}).items()},
        },
    )
    command = [str(python), "-m", "sagemaker_training.cli.train"]
    code, tail = run_logged(command, cwd=ml, env=env, sink=sink)
    if code != 0:
        failure = output_dir / "failure"
        # SageMaker reports /opt/ml/output/failure (written by the toolkit, or by the program
        # before it) after "AlgorithmError: ", as the failures users report show it
        # (aws/sagemaker-python-sdk issues #1225, #2688: "Reason: AlgorithmError:
        # ExecuteUserScriptError:\nExitCode 1\nErrorMessage ...")
        if failure.is_file() and failure.read_text().strip():
            raise ContainerError("AlgorithmError: " + failure.read_text().strip())
        message = "\n".join(tail[-8:])
        raise ContainerError(f'AlgorithmError: ExitCode {code}\nErrorMessage "{message}"')
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
    """Batch Transform as SageMaker runs it: the model's image serves the model, and the
    platform sends it every record as an ``/invocations`` request."""
    name = spec["TransformJobName"]
    sink = CloudWatchLog("/aws/sagemaker/TransformJobs", f"{name}/i-local-{int(time.time())}")
    s3 = _client("s3")
    model_url = spec["ModelDataUrl"]
    bucket, key = split_s3_uri(model_url)
    archive = workdir / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    server, port = start_model_server(
        workdir, spec.get("ModelImage", ""), archive, spec.get("ModelEnvironment") or {}, sink
    )
    try:
        wait_for_ping(server, port)
        sink.write(f"loaded {model_url}")
        _transform_objects(spec, port, s3, sink)
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()
    sink.flush()


def _transform_objects(spec: dict[str, Any], port: int, s3: Any, sink: CloudWatchLog) -> None:
    from concurrent.futures import ThreadPoolExecutor

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
            status, answer, _type = invoke_model_server(
                port, request, {"Content-Type": content_type, "Accept": accept}, TRANSFORM_TIMEOUT
            )
            if status != 200:
                raise ContainerError(
                    f"ClientError: the model container answered {status} for "
                    f"s3://{in_bucket}/{in_key}: {answer[-400:].decode('utf-8', 'replace')}"
                )
            answers.append(answer.rstrip(b"\n"))
        output = joiner.join(answers) + (joiner if answers and joiner else b"")
        s3.put_object(Bucket=out_bucket, Key=out_prefix + relative + ".out", Body=output)
        sink.write(f"{in_key}: {len(answers)} request(s)")

    workers = max(1, int(spec.get("MaxConcurrentTransforms") or 1))
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        list(pool.map(transform_object, objects))
    sink.write(f"transformed {len(objects)} object(s)")


# --- the model server -----------------------------------------------------------------------
#: The image's model server by its profile's ``serving``: a script run with the image's Python.
MODEL_SERVERS = {
    "sagemaker-containers": images.HERE / "sklearn_serving.py",
    "torchserve": images.HERE / "pytorch_serving.py",
}
#: How long a model server may take from its start to its first ``/ping`` 200.
PING_TIMEOUT_SECONDS = 120.0
#: How long Batch Transform waits for one record's answer (SageMaker's
#: ``InvocationsTimeoutInSeconds`` default is 600 s).
TRANSFORM_TIMEOUT = 600.0


def _in_container(value: str, ml: Path) -> str:
    """A path of the container's filesystem (``/opt/ml/...``) as this work folder holds it."""
    return str(ml) + value[len("/opt/ml") :] if value.startswith("/opt/ml") else value


def start_model_server(
    workdir: Path,
    image: str,
    archive: Path,
    environment: dict[str, str],
    sink: CloudWatchLog | None = None,
) -> tuple[subprocess.Popen, int]:
    """The image's model server on the model in ``archive``, as SageMaker starts it: the
    archive extracted into ``/opt/ml/model``, the model's environment, the image's ``serve``.
    Returns the server's process (its output goes to ``sink``, else to ours) and its port."""
    ml = workdir / "opt" / "ml"
    model_dir = ml / "model"
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise ContainerError(
            f"ClientError: the model's artifact cannot be extracted: {exc}"
        ) from exc
    code = model_dir / "code"
    python, image_venv, profile = image_python(
        image, code if code.is_dir() else model_dir, workdir, sink
    )
    server = MODEL_SERVERS.get(profile.serving)
    if server is None:
        raise ContainerError(
            f"ClientError: the local emulator cannot run the model server of {profile.name} "
            f"({profile.serving}): see its profile's [not_installed]"
        )
    port = free_port()
    env = images.program_environment(
        image_venv,
        python,
        {
            **{k: _in_container(str(v), ml) for k, v in environment.items()},
            "SAGEMAKER_BASE_DIR": str(ml),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            # gunicorn serves the port itself: nginx is not on this machine; gunicorn's access
            # log stands in for nginx's (one line per request in the server's log)
            "SAGEMAKER_USE_NGINX": "false",
            "GUNICORN_CMD_ARGS": "--access-logfile -",
            # one worker per server (the image's default is one per CPU): memory, locally
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        },
    )
    process = _spawn([str(python), str(server)], cwd=ml, env=env)
    target = sink.write if sink is not None else (lambda line: print(line, flush=True))
    threading.Thread(target=_forward, args=(process.stdout, target), daemon=True).start()
    return process, port


def _forward(stream: Any, write: Any) -> None:
    for raw in iter(stream.readline, b""):
        write(raw.decode("utf-8", "replace").rstrip("\n"))


def ping(port: int) -> bool:
    """``GET /ping`` of the model server on ``port`` answers 200 (SageMaker's health check)."""
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False


def invoke_model_server(
    port: int, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, bytes, str]:
    """One ``POST /invocations``: the status, the body and its content type."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("POST", "/invocations", body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Content-Type", "")


def wait_for_ping(process: subprocess.Popen, port: int) -> None:
    """Until ``GET /ping`` answers 200; :class:`ContainerError` if the server ends first."""
    deadline = time.monotonic() + PING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ContainerError(
                f"ClientError: the model server exited with {process.returncode} before it "
                "answered /ping (see the job's log)"
            )
        if ping(port):
            return
        time.sleep(0.2)
    raise ContainerError(
        f"ClientError: the model server did not answer /ping within {PING_TIMEOUT_SECONDS:.0f} s"
    )


# --- serving ------------------------------------------------------------------------------
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
    """An endpoint's model server: the approved artifact (its sha256 checked before anything
    of it runs) served by the model's image; ``port`` in the work folder says where."""
    archive = fetch_approved_artifact(spec, workdir)
    server, port = start_model_server(
        workdir, spec.get("Image", ""), archive, spec.get("Environment") or {}
    )
    archive.unlink(missing_ok=True)
    tmp = workdir / "port.tmp"
    tmp.write_text(str(port))
    tmp.replace(workdir / "port")
    log.info("serving %s on port %s", spec["ModelDataUrl"], port)
    code = server.wait()
    raise ContainerError(f"ClientError: the model server exited with {code}")


# --- lambda ---------------------------------------------------------------------------------
def run_lambda(workdir: Path, spec: dict[str, Any]) -> None:
    """The invocation, as the Lambda service runs it: START/END/REPORT lines around the
    handler's own process, its output to CloudWatch Logs, and the timeout enforced."""
    day = time.strftime("%Y/%m/%d", time.gmtime())
    stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
    spec["LogStream"] = stream
    (workdir / "handler.json").write_text(json.dumps(spec))
    sink = CloudWatchLog(f"/aws/lambda/{spec['FunctionName']}", stream)
    # the runtime's Python and its boto3 (built before the clock starts, as AWS's runtime
    # exists before an invocation); nothing of our virtualenv is on the handler's path
    try:
        python, runtime_venv, _ = image_python(f"lambda:{spec['Runtime']}", None, workdir)
    except ContainerError as exc:
        error = {"errorMessage": str(exc), "errorType": "Runtime.Unavailable"}
        write_result(workdir, status="error", payload=json.dumps(error))
        return
    sink.write(f"START RequestId: {spec['RequestId']} Version: $LATEST")
    env = images.program_environment(
        runtime_venv,
        python,
        {
            **(spec.get("Environment") or {}),
            "AWS_LAMBDA_FUNCTION_NAME": spec["FunctionName"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.get("MemorySize", 128)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec['FunctionName']}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec['Runtime']}",
            "LAMBDA_TASK_ROOT": spec["CodeDir"],
        },
    )
    command = [str(python), str(images.HERE / "lambda_runtime.py"), str(workdir)]
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
    root = Path(workdir).resolve()
    spec = json.loads((root / "spec.json").read_text())
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
