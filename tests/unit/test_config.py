"""Settings: every IMAGE_MLOPS_* variable parses to its type; errors name the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from image_mlops.config import (
    PREFIX,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    describe_settings,
    get_settings,
)
from image_mlops_dev.stack.settings import StackSettings, describe_stack_settings

FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def test_defaults_without_any_variable():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.target == "local" and settings.is_local
    assert settings.state_dir == PROJECT_ROOT / ".local"
    assert settings.buckets == (
        settings.raw_bucket,
        settings.validated_bucket,
        settings.models_bucket,
        settings.output_bucket,
    )


def test_each_type_is_parsed():
    settings = Settings.from_env(
        {
            "IMAGE_MLOPS_TARGET": "aws",
            "IMAGE_MLOPS_VALIDATION_BATCH_SIZE": "17",
            "IMAGE_MLOPS_MIN_ACCURACY": "0.9",
            "IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL": "no",
            "IMAGE_MLOPS_ALLOWED_FORMATS": " jpeg, png ,,webp ",
            "IMAGE_MLOPS_STATE_DIR": "some/relative dir",
            "IMAGE_MLOPS_RAW_BUCKET": "  my-raw  ",
        }
    )
    assert settings.target == "aws" and not settings.is_local
    assert settings.validation_batch_size == 17
    assert settings.min_accuracy == pytest.approx(0.9)
    assert settings.require_production_approval is False
    assert settings.allowed_formats == ("JPEG", "PNG", "WEBP")
    assert settings.state_dir == PROJECT_ROOT / "some/relative dir"
    assert settings.raw_bucket == "my-raw"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("on", True), ("0", False), ("Off", False)],
)
def test_booleans(raw, expected):
    env = {"IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL": raw}
    assert Settings.from_env(env).require_production_approval is expected


def test_absolute_and_home_paths(tmp_path):
    assert Settings.from_env({"IMAGE_MLOPS_STATE_DIR": str(tmp_path)}).state_dir == tmp_path
    home = Settings.from_env({"IMAGE_MLOPS_STATE_DIR": "~/state"}).state_dir
    assert home == Path("~/state").expanduser()


def test_empty_value_means_default():
    assert Settings.from_env({"IMAGE_MLOPS_MIN_ACCURACY": ""}).min_accuracy == 0.80
    assert StackSettings.from_env({"IMAGE_MLOPS_PG_PORT": ""}).pg_port == StackSettings().pg_port


@pytest.mark.parametrize(
    ("variable", "value", "kind"),
    [
        ("IMAGE_MLOPS_CLASSIFY_BATCH_SIZE", "fifty", "int"),
        ("IMAGE_MLOPS_MIN_ACCURACY", "high", "float"),
        ("IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL", "maybe", "bool"),
        ("IMAGE_MLOPS_VALIDATION_BATCH_SIZE", "1.5", "int"),
    ],
)
def test_unparsable_value_names_the_variable(variable, value, kind):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert variable in message and repr(value) in message and kind in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IMAGE_MLOPS_TARGET", "cloud"),
        ("IMAGE_MLOPS_VALIDATION_ENGINE", "lambda"),
        ("IMAGE_MLOPS_VALIDATION_BATCH_SIZE", "0"),
        ("IMAGE_MLOPS_CLASSIFY_BATCH_SIZE", "-3"),
        ("IMAGE_MLOPS_MAX_IMAGE_BYTES", "0"),
        # deployment guardrails: outside what SageMaker accepts
        ("IMAGE_MLOPS_PRODUCTION_TRAFFIC_ROUTING", "blue-green"),
        ("IMAGE_MLOPS_CANARY_PERCENT", "60"),
        ("IMAGE_MLOPS_LINEAR_STEP_PERCENT", "5"),
        ("IMAGE_MLOPS_TRAFFIC_WAIT_SECONDS", "4000"),
        ("IMAGE_MLOPS_DEPLOYMENT_TIMEOUT_SECONDS", "60"),
        ("IMAGE_MLOPS_PRODUCTION_INSTANCE_COUNT", "0"),
    ],
)
def test_invalid_value_names_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_unknown_variables_are_ignored():
    assert Settings.from_env({"IMAGE_MLOPS_NOT_A_SETTING": "x"}) == Settings()


def test_get_settings_reads_the_environment_each_time(monkeypatch):
    monkeypatch.setenv("IMAGE_MLOPS_CONFIDENCE_THRESHOLD", "0.75")
    assert get_settings().confidence_threshold == pytest.approx(0.75)
    monkeypatch.setenv("IMAGE_MLOPS_CONFIDENCE_THRESHOLD", "0.5")
    assert get_settings().confidence_threshold == pytest.approx(0.5)


def test_endpoint_names():
    settings = Settings(model_name="clf")
    assert settings.endpoint_name("staging") == "clf-staging"
    assert settings.endpoint_name("production") == "clf-production"
    with pytest.raises(SettingsError, match="prod"):
        settings.endpoint_name("prod")


def test_urls_follow_the_ports():
    settings = StackSettings.from_env(
        {"IMAGE_MLOPS_EMULATOR_PORT": "6001", "IMAGE_MLOPS_AIRFLOW_PORT": "9090"}
    )
    assert settings.emulator_url == "https://127.0.0.1:6001"
    assert settings.airflow_url == "http://localhost:9090"


def test_the_local_stack_settings_are_not_deployment_settings():
    """Ports, executor and login are the development install's (image_mlops_dev): a
    deployment never starts the local stack, so its Settings do not carry them."""
    stack_fields = {f.name for f in dataclasses.fields(StackSettings)}
    assert {"pg_port", "emulator_port", "airflow_port", "stack_executor"} <= stack_fields
    assert stack_fields.isdisjoint(FIELDS)
    variables = {variable for variable, _, _ in describe_stack_settings()}
    assert "IMAGE_MLOPS_STACK_WORKERS" in variables
    assert variables.isdisjoint(variable for variable, _, _ in describe_settings())


def test_describe_settings_covers_every_field():
    rows = describe_settings()
    assert [variable for variable, _, _ in rows] == [PREFIX + name.upper() for name in FIELDS]
    for variable, default, doc in rows:
        assert doc.strip(), f"{variable} has no description"
        assert default is not None
    by_name = {variable: default for variable, default, _ in rows}
    assert by_name["IMAGE_MLOPS_STATE_DIR"] == ".local"  # not this machine's absolute path
    assert by_name["IMAGE_MLOPS_ALLOWED_FORMATS"] == "JPEG,PNG,WEBP"


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_documented_default_parses_back_to_the_default(name):
    """The reference's default column, set as the variable, gives the same setting."""
    variable = PREFIX + name.upper()
    default = dict((v, d) for v, d, _ in describe_settings())[variable]
    parsed = getattr(Settings.from_env({variable: default}), name)
    assert parsed == getattr(Settings(), name), variable


def test_task_processes_get_one_blas_thread_unless_the_user_says_otherwise():
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.manager import LocalStack

    stack = LocalStack(get_settings())
    env = stack.airflow_environment(base={})
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    mine = stack.airflow_environment(base={"OPENBLAS_NUM_THREADS": "4"})
    assert mine["OPENBLAS_NUM_THREADS"] == "4"


def test_dag_files_are_reparsed_within_seconds_unless_the_environment_says_otherwise():
    """The local stack re-parses DAG files every 15 s (someone editing DAGs sees the change);
    the tests' timing profile parses every 10 minutes, and reaches their stacks."""
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.manager import TESTS_TIMING, LocalStack

    stack = LocalStack(get_settings())
    interval = "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"
    assert stack.airflow_environment(base={})[interval] == "15"
    assert stack.airflow_environment(base=dict(TESTS_TIMING))[interval] == "600"
    assert stack.airflow_environment()[interval] == "600"  # this session's stack


def test_the_example_env_gives_a_keyless_tls_aws_connection(tmp_path):
    """``make up``/``make demo`` take the AWS connection from .env (made from .env.example):
    it carries no key (Airflow acts as the worker role) and trusts the stack's CA over TLS,
    since the buckets refuse plain HTTP. Before, it signed with the stack's key over HTTP, so
    `make demo` on a fresh clone was refused at its first upload."""
    import json
    import shutil

    from image_mlops.config import PROJECT_ROOT
    from image_mlops_dev.stack.manager import load_env_file

    shutil.copyfile(PROJECT_ROOT / ".env.example", tmp_path / ".env.example")
    environ = {"IMAGE_MLOPS_STATE_DIR": str(tmp_path / "state")}
    load_env_file(tmp_path, environ)
    connection = json.loads(environ["AIRFLOW_CONN_AWS_DEFAULT"])
    assert "login" not in connection and "password" not in connection
    assert (
        connection["extra"]["endpoint_url"]
        == f"https://127.0.0.1:{environ['IMAGE_MLOPS_EMULATOR_PORT']}"
    )
    assert connection["extra"]["verify"] == str(tmp_path / "state" / "emulator" / "tls" / "ca.pem")
