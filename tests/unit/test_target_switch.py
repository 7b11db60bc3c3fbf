"""``IMAGE_MLOPS_TARGET=aws`` switches the ``image-mlops`` CLI to AWS, and only to AWS.

``.env`` is the local stack's file: its AWS connection points at the emulator and holds the
stack's settings. These tests run the real CLI (``image-mlops upload``, a subprocess) on a
copy of the code in a temporary folder, so that its project root, and the ``.env`` the CLI
reads, are the test's own (the checkout's ``.env`` is never read nor written). That ``.env``
points the AWS connection at a recorder, a local HTTP server standing in for the emulator
that records every request; a second recorder is the HTTPS proxy every call to AWS goes
through (it refuses them: the tests never reach the internet), so a test sees where each
call was headed. The credentials are fake, generated per run, and never in the output.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "image-mlops"
#: A setting only the local stack's .env gives: it must not reach a command run on AWS.
DOTENV_BUCKET = "dotenv-only-raw-bucket"
#: The bucket the aws target uses when the environment names none (config's default).
DEFAULT_RAW_BUCKET = "image-mlops-raw"


class _Recorder(ThreadingHTTPServer):
    """Records the request line of every request (and proxy CONNECT) it receives."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_CONNECT(self) -> None:  # a proxied HTTPS call: refused, never forwarded
        self.server.requests.append(f"CONNECT {self.path}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def _answer(self) -> None:  # the emulator's stand-in: any call succeeds, empty
        self.server.requests.append(f"{self.command} {self.path}")
        self._drain_body()
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def _drain_body(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorders():
    emulator, internet = _Recorder(), _Recorder()
    yield emulator, internet
    for server in (emulator, internet):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the code (the CLI's project root: where it finds ``.env``)."""
    root = tmp_path_factory.mktemp("target-switch")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("plugins", "dev"):
        shutil.copytree(ROOT / folder, root / folder, ignore=skip)
    shutil.copyfile(ROOT / ".env.example", root / ".env.example")
    return root


@pytest.fixture(scope="module")
def fake_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    }


def _environment(project: Path, internet: _Recorder, credentials: dict, **extra: str) -> dict:
    """The shell of someone with no stack settings: the test session's Airflow, image-mlops
    and AWS variables left out, fake keys, AWS reachable only through ``internet``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "IMAGE_MLOPS_", "AWS_", "BOTO_"))
        and k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "pythonpath")
    }
    env.update(credentials)
    env.update(
        {
            # the copy first: its image_mlops.config puts the project root (and .env) there
            "PYTHONPATH": os.pathsep.join([str(project / "plugins"), str(project / "dev")]),
            "AIRFLOW_HOME": str(project / "airflow-home"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(project / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(project / "no-aws-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "HTTPS_PROXY": internet.url,
            "HTTP_PROXY": internet.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.update(extra)
    return env


def _write_env(project: Path, emulator: _Recorder, target: str = "local") -> str:
    """The local stack's ``.env`` as ``make`` writes it, its AWS connection on ``emulator``."""
    text = "\n".join(
        [
            f"IMAGE_MLOPS_TARGET={target}",
            f"IMAGE_MLOPS_EMULATOR_PORT={emulator.server_address[1]}",
            f"IMAGE_MLOPS_RAW_BUCKET={DOTENV_BUCKET}",
            f"IMAGE_MLOPS_STATE_DIR={project / 'local-state'}",
            "IMAGE_MLOPS_PG_PASSWORD=",
            "IMAGE_MLOPS_LOCAL_AWS_SECRET=",
            "IMAGE_MLOPS_REDIS_PASSWORD=",
            "AIRFLOW_CONN_AWS_DEFAULT='"
            + json.dumps(
                {
                    "conn_type": "aws",
                    "extra": {
                        "region_name": "us-east-1",
                        "endpoint_url": "http://127.0.0.1:${IMAGE_MLOPS_EMULATOR_PORT}",
                    },
                }
            )
            + "'",
        ]
    )
    (project / ".env").write_text(text + "\n")
    return text


def _upload(project: Path, env: dict) -> subprocess.CompletedProcess:
    images = project / "images"
    images.mkdir(exist_ok=True)
    (images / "a.jpg").write_bytes(b"not really an image")
    return subprocess.run(
        [str(CLI), "upload", "incoming", str(images)],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _no_secret_in(proc: subprocess.CompletedProcess, credentials: dict, project: Path) -> None:
    output = proc.stdout + proc.stderr
    assert credentials["AWS_SECRET_ACCESS_KEY"] not in output
    generated = [
        line.partition("=")[2]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith(("IMAGE_MLOPS_PG_PASSWORD=", "IMAGE_MLOPS_LOCAL_AWS_SECRET="))
    ]
    assert not any(value and value in output for value in generated)


def test_the_copy_is_the_clis_project_root(project, recorders, fake_credentials):
    """What the tests below rely on: the CLI run with this environment reads the copy's .env
    (otherwise a request missing from the recorder would prove nothing)."""
    _emulator, internet = recorders
    env = _environment(project, internet, fake_credentials)
    proc = subprocess.run(
        [sys.executable, "-c", "from image_mlops.config import PROJECT_ROOT; print(PROJECT_ROOT)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(proc.stdout.strip()) == project.resolve()


def test_the_local_target_loads_dotenv_and_its_connection(project, recorders, fake_credentials):
    """No target in the environment: .env is the configuration, its connection is used."""
    emulator, internet = recorders
    _write_env(project, emulator)
    proc = _upload(project, _environment(project, internet, fake_credentials))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"uploaded 1 files to s3://{DOTENV_BUCKET}/incoming/" in proc.stdout
    assert emulator.requests == [f"PUT /{DOTENV_BUCKET}/incoming/a.jpg"]
    assert internet.requests == []
    _no_secret_in(proc, fake_credentials, project)


def test_the_aws_target_in_the_environment_does_not_read_dotenv(
    project, recorders, fake_credentials
):
    """``IMAGE_MLOPS_TARGET=aws image-mlops ...`` with the local stack's .env beside it: not
    one request to the emulator, none of .env's values (its bucket), and .env untouched (its
    empty secrets stay empty: not even generated). The call goes to AWS (here, its proxy,
    which refuses it: the command fails, saying where it was headed)."""
    emulator, internet = recorders
    written = _write_env(project, emulator)
    env = _environment(project, internet, fake_credentials, IMAGE_MLOPS_TARGET="aws")
    proc = _upload(project, env)
    assert emulator.requests == []
    assert internet.requests, proc.stderr[-3000:]
    assert all(r.startswith("CONNECT ") and ".amazonaws.com:443" in r for r in internet.requests)
    assert any(DEFAULT_RAW_BUCKET in r for r in internet.requests)
    assert not any(DOTENV_BUCKET in r for r in internet.requests)
    assert proc.returncode != 0
    assert "ProxyConnectionError" in proc.stderr  # the way to AWS, refused by the stand-in
    assert f"{emulator.server_address[1]}" not in proc.stdout + proc.stderr
    assert (project / ".env").read_text() == written + "\n"
    _no_secret_in(proc, fake_credentials, project)


def test_the_aws_target_refuses_a_connection_to_a_local_endpoint(
    project, recorders, fake_credentials
):
    """Defense in depth: the target is aws but the connection in the environment still points
    at a local emulator (an exported local shell, say): refused before any call, naming the
    connection and the fix."""
    emulator, internet = recorders
    _write_env(project, emulator)
    connection = {
        "conn_type": "aws",
        "extra": {"region_name": "us-east-1", "endpoint_url": emulator.url},
    }
    env = _environment(
        project,
        internet,
        fake_credentials,
        IMAGE_MLOPS_TARGET="aws",
        AIRFLOW_CONN_AWS_DEFAULT=json.dumps(connection),
    )
    proc = _upload(project, env)
    assert proc.returncode != 0
    assert emulator.requests == [] and internet.requests == []
    assert "'aws_default'" in proc.stderr
    assert "endpoint_url" in proc.stderr and "IMAGE_MLOPS_TARGET=aws" in proc.stderr
    assert "AIRFLOW_CONN_AWS_DEFAULT" in proc.stderr
    _no_secret_in(proc, fake_credentials, project)


def test_a_dotenv_saying_target_aws_is_refused(project, recorders, fake_credentials):
    """A .env edited to say ``IMAGE_MLOPS_TARGET=aws`` still holds the local stack's
    connections: refused with one line naming the file and the variable, before any call and
    without touching the file."""
    emulator, internet = recorders
    written = _write_env(project, emulator, target="aws")
    proc = _upload(project, _environment(project, internet, fake_credentials))
    assert proc.returncode == 1
    assert emulator.requests == [] and internet.requests == []
    assert str(project / ".env") in proc.stderr
    assert "IMAGE_MLOPS_TARGET=aws" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (project / ".env").read_text() == written + "\n"
    _no_secret_in(proc, fake_credentials, project)


# -- The check itself (image_mlops.aws), in this process ------------------------------------


def _aws_settings(monkeypatch, extra: dict, target: str = "aws"):
    from image_mlops.config import Settings

    monkeypatch.setenv(
        "AIRFLOW_CONN_TARGET_SWITCH_CHECK", json.dumps({"conn_type": "aws", "extra": extra})
    )
    return Settings(target=target, aws_conn_id="target_switch_check")


@pytest.mark.parametrize(
    "extra",
    [
        {"endpoint_url": "https://127.0.0.1:5055"},
        {"endpoint_url": "http://localhost:4566"},
        {"endpoint_url": "https://moto:5055"},  # docker-compose's emulator
        {"endpoint_url": "http://10.0.3.7:5055"},
        {"service_config": {"s3": {"endpoint_url": "http://[::1]:9000"}}},
    ],
)
def test_the_aws_target_refuses_an_endpoint_that_is_not_aws(monkeypatch, extra):
    from image_mlops.aws import aws_client, s3_hook
    from image_mlops.config import SettingsError

    settings = _aws_settings(monkeypatch, extra)
    with pytest.raises(SettingsError, match=r"'target_switch_check'.*AIRFLOW_CONN_TARGET_SWITCH"):
        aws_client("s3", settings)
    with pytest.raises(SettingsError, match="no endpoint_url"):
        s3_hook(settings)


@pytest.mark.parametrize(
    "extra",
    [
        {"region_name": "us-east-1"},  # docs/aws.md: no endpoint_url
        {"role_arn": "arn:aws:iam::123456789012:role/image-mlops-worker"},
        # a VPC interface endpoint without private DNS, FIPS: AWS's own hosts, per service
        {
            "service_config": {
                "s3": {
                    "endpoint_url": "https://bucket.vpce-0a1b2c3d-4e5f6a7b.s3.us-east-1"
                    ".vpce.amazonaws.com"
                },
                "sts": {"endpoint_url": "https://sts-fips.us-east-1.amazonaws.com"},
            }
        },
    ],
)
def test_the_aws_target_accepts_a_connection_to_aws(monkeypatch, extra):
    from image_mlops.aws import _connection

    assert _connection(_aws_settings(monkeypatch, extra)) is not None


def test_the_local_target_takes_the_emulators_endpoint(monkeypatch):
    from image_mlops.aws import _connection

    settings = _aws_settings(monkeypatch, {"endpoint_url": "https://127.0.0.1:5055"}, "local")
    assert _connection(settings) is not None


def test_the_refusal_never_shows_a_password_in_the_endpoint(monkeypatch):
    from image_mlops.aws import aws_client
    from image_mlops.config import SettingsError

    password = secrets.token_urlsafe(20)
    settings = _aws_settings(monkeypatch, {"endpoint_url": f"https://u:{password}@127.0.0.1:5055"})
    with pytest.raises(SettingsError) as refused:
        aws_client("sts", settings)
    assert password not in str(refused.value)
    assert "https://127.0.0.1:5055" in str(refused.value)


# -- load_env_file, in this process -------------------------------------------------------


def test_load_env_file_reads_nothing_for_the_aws_target(tmp_path):
    from image_mlops_dev.stack.manager import load_env_file

    shutil.copyfile(ROOT / ".env.example", tmp_path / ".env.example")
    environ = {"IMAGE_MLOPS_TARGET": "aws"}
    assert load_env_file(tmp_path, environ) is None
    assert environ == {"IMAGE_MLOPS_TARGET": "aws"}
    assert not (tmp_path / ".env").exists()  # not even created from the example


def test_an_explicit_local_target_overrides_dotenvs_like_any_variable(tmp_path):
    """The environment's target wins over .env's, as every variable does: with ``local`` in
    the environment (the test harness's stacks), a .env saying aws is read, its target not."""
    from image_mlops_dev.stack.manager import load_env_file

    (tmp_path / ".env").write_text("IMAGE_MLOPS_TARGET=aws\nIMAGE_MLOPS_PG_PORT=5999\n")
    environ = {"IMAGE_MLOPS_TARGET": "local"}
    assert load_env_file(tmp_path, environ) == tmp_path / ".env"
    assert environ["IMAGE_MLOPS_TARGET"] == "local" and environ["IMAGE_MLOPS_PG_PORT"] == "5999"


@pytest.mark.parametrize("action", ["up", "down", "status", "deploy"])
def test_the_stack_commands_refuse_the_aws_target(monkeypatch, capsys, action):
    """`image-mlops stack ...` runs the local stack, which has no settings without .env."""
    from image_mlops.cli import main

    monkeypatch.setenv("IMAGE_MLOPS_TARGET", "aws")
    assert main(["stack", action]) == 2
    err = capsys.readouterr().err
    assert f"`stack {action}` runs the local stack" in err and "docs/aws.md" in err
