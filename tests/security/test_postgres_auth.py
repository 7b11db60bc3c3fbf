"""Attacks on the local PostgreSQL: no process gets in without the password.

Before the fix the embedded server ran with ``--auth=trust``: any local process could connect
as the superuser and, say, answer approvals in the Airflow database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from image_mlops_dev.stack.manager import GENERATED_SECRETS, load_env_file
from image_mlops_dev.stack.postgres import EmbeddedPostgres, PasswordRefused, _bin
from image_mlops_dev.stack.processes import free_port
from image_mlops_dev.stack.settings import get_stack_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.stack
def test_a_superuser_login_without_the_password_is_refused(local_stack, settings):
    for password in (None, "", "postgres", "wrong-password"):
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(
                host="127.0.0.1",
                port=get_stack_settings().pg_port,
                user="postgres",
                dbname="airflow",
                connect_timeout=5,
                **({} if password is None else {"password": password}),
            )
        assert "password" in str(refused.value).lower()
    # psql over the Unix socket in the data folder: a password there too
    pg = local_stack.postgres
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    proc = subprocess.run(
        [str(_bin("psql")), "-h", str(pg.data_dir), "-p", str(get_stack_settings().pg_port), "-U",
         "postgres", "-w", "-c", "SELECT 1"],
        env=env, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0 and "password" in proc.stderr.lower()
    assert not pg.trusts_everyone()
    # the configured password works
    with psycopg.connect(pg.uri("airflow"), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture
def data_dir(test_output):
    # inside the project, as the stack's own (PostgreSQL as root runs as its system user,
    # which must be able to traverse the folder's parents); test_output makes the folder,
    # which a fresh clone lacks until a test asks for it
    folder = Path(tempfile.mkdtemp(prefix="pg-auth-", dir=test_output))
    yield folder / "data"
    for password in list(_started):
        EmbeddedPostgres(folder / "data", _started[password], password=password).stop()
    _started.clear()
    shutil.rmtree(folder, ignore_errors=True)


_started: dict[str, int] = {}


def _server(data_dir: Path, port: int, password: str) -> EmbeddedPostgres:
    _started[password] = port
    return EmbeddedPostgres(data_dir, port, password=password)


def test_a_lost_env_file_stops_the_start_with_a_pointer_to_make_clean(data_dir):
    port = free_port()
    first = _server(data_dir, port, secrets.token_urlsafe(16))
    first.start()
    first.stop()
    # .env lost: a new one comes with a new password, the database keeps the old one
    again = _server(data_dir, port, secrets.token_urlsafe(16))
    with pytest.raises(PasswordRefused) as refused:
        again.start()
    assert "make clean" in str(refused.value) and ".env" in str(refused.value)
    assert again.password not in str(refused.value)


def test_a_data_folder_made_with_trust_is_moved_to_passwords(data_dir):
    """A stack from before this rule: on start it gets the password and trust is gone."""
    port = free_port()
    server = _server(data_dir, port, secrets.token_urlsafe(16))
    server.start()
    hba = server.hba_file.read_text()
    server.hba_file.write_text(hba.replace("scram-sha-256", "trust"))
    server.stop()
    assert server.trusts_everyone()
    server.start()
    assert not server.trusts_everyone()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    with psycopg.connect(server.uri(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_env_file_gets_generated_secrets_once_and_only_its_owner_reads_it(tmp_path):
    shutil.copyfile(ROOT / ".env.example", tmp_path / ".env.example")
    first: dict[str, str] = {}
    load_env_file(tmp_path, first)
    for name in GENERATED_SECRETS:
        assert len(first[name]) >= 24, name
    assert first["IMAGE_MLOPS_PG_PASSWORD"] != first["IMAGE_MLOPS_LOCAL_AWS_SECRET"]
    # the database connection carries its password; the AWS connection carries no key at all
    # (Airflow acts as the worker role, whose credentials the emulator hands out), only the CA
    assert f":{first['IMAGE_MLOPS_PG_PASSWORD']}@" in first["AIRFLOW_CONN_PRODUCT_CATALOG_DB"]
    assert first["IMAGE_MLOPS_LOCAL_AWS_SECRET"] not in first["AIRFLOW_CONN_AWS_DEFAULT"]
    assert "aws_secret_access_key" not in first["AIRFLOW_CONN_AWS_DEFAULT"]
    assert "${" not in first["AIRFLOW_CONN_AWS_DEFAULT"]  # the CA path is expanded
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    again: dict[str, str] = {}
    load_env_file(tmp_path, again)
    assert again == first  # generated once, kept
    assert "IMAGE_MLOPS_PG_PASSWORD=\n" in (ROOT / ".env.example").read_text()  # never in git


def test_an_env_file_from_before_passwords_is_named_with_the_fix(monkeypatch):
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.manager import LocalStack
    from image_mlops_dev.stack.processes import StackError

    settings = get_settings()
    stack = LocalStack(settings)
    stack.check_database_connections()  # the session's connections carry the password
    old = f"postgres://postgres@127.0.0.1:{get_stack_settings().pg_port}/product_catalog"
    monkeypatch.setenv("AIRFLOW_CONN_PRODUCT_CATALOG_DB", old)
    with pytest.raises(StackError) as error:
        stack.check_database_connections()
    assert "AIRFLOW_CONN_PRODUCT_CATALOG_DB" in str(error.value) and ".env.example" in str(
        error.value
    )
