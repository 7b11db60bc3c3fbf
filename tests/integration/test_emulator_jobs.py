"""The emulator runs the compute behind the AWS APIs, as AWS documents it.

Training jobs (script mode, the container contract, FailureReason, StopTrainingJob,
MaxRuntimeInSeconds, a restart), transform jobs (the model's own inference code) and Lambda
invocations (RequestResponse, FunctionError, timeouts, Event, DryRun) — each through boto3
against the emulator, nothing mocked.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import time
import uuid
import zipfile

import pytest
from conftest import EMULATOR_TEST_ROLE, SKLEARN_IMAGE, create_emulator_test_role, log_lines
from private_emulator import PrivateEmulator

from image_mlops.serving.container import CONTAINER_ENVIRONMENT

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The emulator's own behaviour is under test here, not the template's permissions: the
    stack's bootstrap key (the roles' refusals are test_emulator_enforcement.py's)."""
    return admin


@pytest.fixture(autouse=True)
def _emulator_test_role(emulator_test_role):
    """The jobs and models here run as ``ROLE`` (see conftest.EMULATOR_TEST_ROLE)."""


ROLE = f"arn:aws:iam::123456789012:role/{EMULATOR_TEST_ROLE}"
PROBE = """\
import json, os, sys, time
print("started", flush=True)
mode = os.environ["SM_HP_MODE"]
if mode == "sleep":
    time.sleep(120)
if mode == "fail":
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write("ValueError: the probe was told to fail")
    sys.exit(3)
if mode == "image":  # what the program finds in its container
    import importlib.metadata, importlib.util
    found = {}
    for module, package in (("sklearn", "scikit-learn"), ("numpy", "numpy"), ("PIL", "pillow"),
                            ("airflow", "apache-airflow"), ("image_mlops", "image-mlops")):
        spec = importlib.util.find_spec(module)
        found[module] = importlib.metadata.version(package) if spec else None
    report = {"python": list(sys.version_info[:2]), "packages": found, "path": sys.path,
              "executable": sys.executable}
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "image.json"), "w") as f:
        json.dump(report, f)
    sys.exit(0)
seen = {}
for channel in json.loads(os.environ["SM_CHANNELS"]):
    root = os.environ["SM_CHANNEL_" + channel.upper()]
    seen[channel] = sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )
contract = {
    "argv": sys.argv[1:],
    "hps": json.loads(os.environ["SM_HPS"]),
    "channels": seen,
    "config": json.load(open(os.environ["SM_INPUT_CONFIG_DIR"] + "/hyperparameters.json")),
    "hosts": json.loads(os.environ["SM_HOSTS"]),
}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "contract.json"), "w") as f:
    json.dump(contract, f)
"""


def _tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _probe_job(
    s3,
    bucket: str,
    *,
    mode: str,
    max_runtime: int = 600,
    image: str = SKLEARN_IMAGE,
    program: str = PROBE,
) -> dict:
    """A script-mode job whose program reports the container contract it was given."""
    run = uuid.uuid4().hex[:8]
    s3.put_object(Bucket=bucket, Key=f"probe/{run}/src.tar.gz", Body=_tar_gz({"probe.py": program}))
    for key in ("cats/a.png", "cats/b.png", "dogs/c.png"):
        s3.put_object(Bucket=bucket, Key=f"probe/{run}/data/{key}", Body=b"x")
    s3.put_object(
        Bucket=bucket,
        Key=f"probe/{run}/val.manifest",
        Body=json.dumps([{"prefix": f"s3://{bucket}/probe/{run}/data/"}, "dogs/c.png"]).encode(),
    )
    return {
        "TrainingJobName": f"probe-{mode}-{run}",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {
            "mode": json.dumps(mode),
            "C": "0.5",
            "sagemaker_program": json.dumps("probe.py"),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/probe/{run}/src.tar.gz"),
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/probe/{run}/data/",
                    }
                },
            },
            {
                "ChannelName": "validation",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "ManifestFile",
                        "S3Uri": f"s3://{bucket}/probe/{run}/val.manifest",
                    }
                },
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/probe/{run}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def wait_until(describe, done, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = describe()
        if done(described):
            return described
        time.sleep(0.3)
    raise AssertionError(f"still {described}")


def _training_finished(d: dict) -> bool:
    return d["TrainingJobStatus"] not in ("InProgress", "Stopping")


def _wait_for_log(logs, group: str, prefix: str, text: str) -> None:
    wait_until(
        lambda: {"lines": log_lines(logs, group, prefix) if _has_group(logs, group) else []},
        lambda d: any(text in line for line in d["lines"]),
    )


def _has_group(logs, group: str) -> bool:
    found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return any(g["logGroupName"] == group for g in found)


# -- training ------------------------------------------------------------------------------
def test_a_training_job_gets_the_script_mode_container_contract(aws, settings):
    config = _probe_job(aws.s3, settings.models_bucket, mode="report")
    name = config["TrainingJobName"]
    aws.sagemaker.create_training_job(**config)
    assert aws.sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "InProgress",
        "Completed",
    )
    described = wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=name), _training_finished
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert "FailureReason" not in described
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact.endswith(f"/out/{name}/output/model.tar.gz")
    bucket, _, key = artifact[5:].partition("/")
    body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        contract = json.load(tar.extractfile("contract.json"))
    # hyperparameters: JSON-decoded, passed as --name value (one dash for a one-letter name:
    # sagemaker-training's mapping.to_cmd_args), sagemaker_* kept for the toolkit
    assert contract["argv"] == ["-C", "0.5", "--mode", "report"]
    assert contract["hps"] == {"C": 0.5, "mode": "report"}
    assert contract["config"]["sagemaker_program"] == '"probe.py"'
    assert contract["channels"] == {
        "train": ["cats/a.png", "cats/b.png", "dogs/c.png"],
        "validation": ["dogs/c.png"],
    }
    assert contract["hosts"] == ["algo-1"]
    lines = log_lines(aws.logs, "/aws/sagemaker/TrainingJobs", name)
    assert "started" in lines


def test_a_failed_training_job_says_why(aws, settings):
    config = _probe_job(aws.s3, settings.models_bucket, mode="fail")
    aws.sagemaker.create_training_job(**config)
    described = wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=config["TrainingJobName"]),
        _training_finished,
    )
    assert described["TrainingJobStatus"] == "Failed"
    # the program's own /opt/ml/output/failure is the reason, as in SageMaker
    assert described["FailureReason"] == "AlgorithmError: ValueError: the probe was told to fail"


def test_a_crashing_program_fails_with_the_end_of_its_output(aws, settings):
    from validation_corpus import image_bytes

    from image_mlops.training import dataset, job

    for label in ("a", "b"):
        for i in range(4):
            aws.s3.put_object(
                Bucket=settings.validated_bucket,
                Key=f"labeled/{label}/crash-{i}.png",
                Body=image_bytes("PNG", (40, 40), seed=i + (10 if label == "b" else 0)),
            )
    manifest = dataset.build_manifest(
        [
            {"key": f"labeled/{label}/crash-{i}.png", "label": label, "sha256": f"{label}{i}"}
            for label in ("a", "b")
            for i in range(4)
        ],
        bucket=settings.validated_bucket,
        seed=0,
    )
    config = job.training_request(
        settings,
        manifest,
        hyperparameters={"image_size": -3},
        run_id=f"manual__crash-{uuid.uuid4().hex[:6]}",
        try_number=1,
    )
    aws.sagemaker.create_training_job(**config)
    described = wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=config["TrainingJobName"]),
        _training_finished,
    )
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:")
    # sagemaker-training 4.8.0 (the image's) does not capture the program's stderr: the
    # reason has the exit code and the command, the job's log has the traceback
    assert "ExitCode 1" in reason and "train.py --image_size -3" in reason
    assert len(reason) <= 1024
    log = "\n".join(log_lines(aws.logs, "/aws/sagemaker/TrainingJobs", config["TrainingJobName"]))
    assert "Traceback" in log and "height and width must be > 0" in log


def _program_running(job_name: str) -> bool:
    import subprocess

    found = subprocess.run(
        ["pgrep", "-f", f"training/{job_name}/container-venv/bin/python probe.py"], check=False
    )
    return found.returncode == 0


def _finished_job(aws, config: dict) -> dict:
    aws.sagemaker.create_training_job(**config)
    return wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=config["TrainingJobName"]),
        _training_finished,
        300,  # a profile's first build is part of its first job
    )


def test_a_job_runs_on_the_images_python_with_the_images_packages_only(aws, settings):
    described = _finished_job(aws, _probe_job(aws.s3, settings.models_bucket, mode="image"))
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    bucket, _, key = described["ModelArtifacts"]["S3ModelArtifacts"][5:].partition("/")
    body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        found = json.load(tar.extractfile("image.json"))
    # sagemaker-scikit-learn:1.4-2-py312 as AWS builds it (aws/sagemaker-scikit-learn-container,
    # v1.4-2-py312): Python 3.12, numpy 2.1.0, scikit-learn 1.4.2, Pillow through
    # multi-model-server; nothing of our virtualenv
    assert found["python"] == [3, 12]
    assert found["packages"]["sklearn"] == "1.4.2" and found["packages"]["numpy"] == "2.1.0"
    assert found["packages"]["PIL"] is not None
    assert found["packages"]["airflow"] is None and found["packages"]["image_mlops"] is None
    assert "/container-venv/" in found["executable"]
    assert not any("/.venv/" in entry for entry in found["path"])


NEEDS_PYTHON_3_10 = """\
import sys
for a, b in zip([1], [2], strict=True):
    pass
match sys.argv:
    case _:
        pass
"""


def test_a_program_needing_a_newer_python_than_the_images_is_refused(aws, settings):
    config = _probe_job(
        aws.s3,
        settings.models_bucket,
        mode="report",
        image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        program=NEEDS_PYTHON_3_10,
    )
    described = _finished_job(aws, config)
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    # refused before anything runs, naming the constructs (vermin), whatever Python runs here
    assert reason.startswith("ClientError: the image sklearn-1.2-1 has Python 3.9")
    assert "probe.py:2: 'zip(strict)' requires Python 3.10" in reason
    assert "probe.py:4: pattern matching requires Python 3.10" in reason


def test_an_image_without_a_profile_is_refused(aws, settings):
    config = _probe_job(
        aws.s3,
        settings.models_bucket,
        mode="report",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-trainer:1",
    )
    described = _finished_job(aws, config)
    assert described["TrainingJobStatus"] == "Failed"
    assert "no container profile for the image" in described["FailureReason"]
    assert "my-own-trainer:1" in described["FailureReason"]


def test_stop_training_job_stops_the_program(aws, settings):
    config = _probe_job(aws.s3, settings.models_bucket, mode="sleep")
    name = config["TrainingJobName"]
    aws.sagemaker.create_training_job(**config)
    _wait_for_log(aws.logs, "/aws/sagemaker/TrainingJobs", name, "started")
    assert _program_running(name)
    aws.sagemaker.stop_training_job(TrainingJobName=name)
    assert aws.sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    described = wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=name), _training_finished, 30
    )
    assert described["TrainingJobStatus"] == "Stopped"
    assert not _program_running(name)
    with pytest.raises(aws.sagemaker.exceptions.ClientError, match="cannot be stopped"):
        aws.sagemaker.stop_training_job(TrainingJobName=name)


def test_max_runtime_stops_a_training_job(aws, settings):
    config = _probe_job(aws.s3, settings.models_bucket, mode="sleep", max_runtime=3)
    aws.sagemaker.create_training_job(**config)
    described = wait_until(
        lambda: aws.sagemaker.describe_training_job(TrainingJobName=config["TrainingJobName"]),
        _training_finished,
        60,
    )
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "MaxRuntimeInSeconds" in described["FailureReason"]


def test_a_job_name_is_taken_once(aws, settings):
    config = _probe_job(aws.s3, settings.models_bucket, mode="report")
    aws.sagemaker.create_training_job(**config)
    with pytest.raises(aws.sagemaker.exceptions.ClientError, match="already exists"):
        aws.sagemaker.create_training_job(**config)


def test_jobs_survive_a_restart_as_finished_or_failed_never_in_progress(tmp_path):
    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    try:
        s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
        create_emulator_test_role(emulator.client("iam"))
        s3.create_bucket(Bucket="jobs")
        done = _probe_job(s3, "jobs", mode="report")
        sagemaker.create_training_job(**done)
        wait_until(
            lambda: sagemaker.describe_training_job(TrainingJobName=done["TrainingJobName"]),
            _training_finished,
        )
        running = _probe_job(s3, "jobs", mode="sleep")
        sagemaker.create_training_job(**running)
        _wait_for_log(
            emulator.client("logs"),
            "/aws/sagemaker/TrainingJobs",
            running["TrainingJobName"],
            "started",
        )
        emulator.crash()  # SIGKILL of the emulator's process group (its containers too)
        assert not _program_running(running["TrainingJobName"])
        for _restart in range(2):  # the ghost's end is journaled once, not again and again
            emulator.start()
            sagemaker = emulator.client("sagemaker")
            finished = sagemaker.describe_training_job(TrainingJobName=done["TrainingJobName"])
            assert finished["TrainingJobStatus"] == "Completed"
            artifact = finished["ModelArtifacts"]["S3ModelArtifacts"][5:].partition("/")[2]
            assert emulator.client("s3").head_object(Bucket="jobs", Key=artifact)
            ghost = sagemaker.describe_training_job(TrainingJobName=running["TrainingJobName"])
            assert ghost["TrainingJobStatus"] == "Failed"
            assert "stopped while this training job was running" in ghost["FailureReason"]
            emulator.crash()
        outcomes = (
            (tmp_path / "journal.bin")
            .read_bytes()
            .count(f"/_emulator/outcomes/training/{running['TrainingJobName']}".encode())
        )
        assert outcomes == 1
    finally:
        emulator.stop()


# -- batch transform -----------------------------------------------------------------------
def test_a_transform_job_runs_the_models_own_inference_code(aws, settings, tmp_path):
    from sample_model import colour_image, write_artifact

    run = uuid.uuid4().hex[:8]
    bucket = settings.output_bucket
    artifact = write_artifact(
        tmp_path / "model.tar.gz", {"red": (220, 30, 30), "blue": (30, 40, 220)}
    )
    aws.s3.put_object(Bucket=bucket, Key=f"tj/{run}/model.tar.gz", Body=artifact.read_bytes())
    model = f"tj-model-{run}"
    aws.sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": f"s3://{bucket}/tj/{run}/model.tar.gz",
            "Environment": CONTAINER_ENVIRONMENT,
        },
    )
    red, blue = (colour_image(c, seed=1) for c in ((220, 30, 30), (30, 40, 220)))
    lines = [
        json.dumps({"instances": [{"b64": base64.b64encode(red).decode()}]}),
        json.dumps({"instances": [{"b64": base64.b64encode(x).decode()} for x in (blue, red)]}),
    ]
    aws.s3.put_object(Bucket=bucket, Key=f"tj/{run}/in/a.jsonl", Body="\n".join(lines).encode())
    aws.s3.put_object(Bucket=bucket, Key=f"tj/{run}/in/sub/b.jsonl", Body=lines[0].encode())
    name = f"tj-{run}"
    aws.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="SingleRecord",
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/tj/{run}/in/"}
            },
            "ContentType": "application/json",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{bucket}/tj/{run}/out/",
            "Accept": "application/json",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    described = wait_until(
        lambda: aws.sagemaker.describe_transform_job(TransformJobName=name),
        lambda d: d["TransformJobStatus"] not in ("InProgress", "Stopping"),
    )
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert aws.keys(bucket, f"tj/{run}/out/") == [
        f"tj/{run}/out/a.jsonl.out",
        f"tj/{run}/out/sub/b.jsonl.out",
    ]
    body = aws.s3.get_object(Bucket=bucket, Key=f"tj/{run}/out/a.jsonl.out")["Body"].read()
    answers = [json.loads(line) for line in body.decode().splitlines()]
    assert [[p["label"] for p in a["predictions"]] for a in answers] == [["red"], ["blue", "red"]]

    # a record the model cannot read fails the job with a reason
    aws.s3.put_object(Bucket=bucket, Key=f"tj/{run}/bad/x.jsonl", Body=b"not json\n")
    aws.sagemaker.create_transform_job(
        TransformJobName=f"{name}-bad",
        ModelName=model,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/tj/{run}/bad/"}
            },
            "ContentType": "application/json",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{bucket}/tj/{run}/bad-out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    failed = wait_until(
        lambda: aws.sagemaker.describe_transform_job(TransformJobName=f"{name}-bad"),
        lambda d: d["TransformJobStatus"] not in ("InProgress", "Stopping"),
    )
    assert failed["TransformJobStatus"] == "Failed"
    assert f"tj/{run}/bad/x.jsonl" in failed["FailureReason"]


# -- Lambda ----------------------------------------------------------------------------------
def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


HANDLERS = """\
import importlib.util, os, sys, time
def echo(event, context):
    print("echo", event)
    return {"event": event, "request": context.aws_request_id, "env": os.environ.get("COLOUR"),
            "left_ms": context.get_remaining_time_in_millis() > 0,
            "python": list(sys.version_info[:2]), "path": sys.path,
            "found": {m: importlib.util.find_spec(m) is not None
                      for m in ("boto3", "airflow", "image_mlops", "PIL")}}
def fail(event, context):
    raise KeyError("manifest_key")
def slow(event, context):
    time.sleep(30)
"""


@pytest.fixture(scope="module")
def lambdas(admin):
    return getattr(admin, "lambda")


@pytest.fixture(scope="module")
def functions(lambdas, emulator_test_role):
    role = emulator_test_role
    names = {}
    for handler, timeout in (("echo", 30), ("fail", 30), ("slow", 1)):
        name = f"test-{handler}-{uuid.uuid4().hex[:6]}"
        lambdas.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=f"handlers.{handler}",
            Code={"ZipFile": _zip({"handlers.py": HANDLERS})},
            Timeout=timeout,
            Environment={"Variables": {"COLOUR": "teal"}},
        )
        names[handler] = name
    return names


def test_invoke_runs_the_handler_from_the_zip(aws, lambdas, functions):
    response = lambdas.invoke(
        FunctionName=functions["echo"], Payload=json.dumps({"n": 1}), LogType="Tail"
    )
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["event"] == {"n": 1} and result["env"] == "teal" and result["left_ms"]
    # the runtime's Python and boto3, the zip's own modules, nothing of our virtualenv
    assert result["python"] == [3, 12]
    assert result["found"] == {"boto3": True, "airflow": False, "image_mlops": False, "PIL": False}
    assert not any("/.venv/" in entry for entry in result["path"])
    assert "echo {'n': 1}" in base64.b64decode(response["LogResult"]).decode()
    lines = log_lines(aws.logs, f"/aws/lambda/{functions['echo']}", "")
    assert any(line.startswith(f"START RequestId: {result['request']}") for line in lines)
    assert any(line.startswith(f"REPORT RequestId: {result['request']}") for line in lines)


def test_a_handler_error_is_a_function_error(aws, lambdas, functions):
    response = lambdas.invoke(FunctionName=functions["fail"], Payload=b"{}")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "KeyError" and "manifest_key" in error["errorMessage"]


def test_a_slow_handler_times_out(aws, lambdas, functions):
    started = time.monotonic()
    response = lambdas.invoke(FunctionName=functions["slow"], Payload=b"{}")
    assert time.monotonic() - started < 20
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]


def test_event_and_dry_run_invocations(aws, lambdas, functions):
    assert (
        lambdas.invoke(FunctionName=functions["echo"], InvocationType="DryRun")["StatusCode"] == 204
    )
    assert (
        lambdas.invoke(
            FunctionName=functions["echo"], InvocationType="Event", Payload=b'{"async": true}'
        )["StatusCode"]
        == 202
    )
    _wait_for_log(aws.logs, f"/aws/lambda/{functions['echo']}", "", "echo {'async': True}")
    with pytest.raises(lambdas.exceptions.ResourceNotFoundException):
        lambdas.invoke(FunctionName="no-such-function", Payload=b"{}")
