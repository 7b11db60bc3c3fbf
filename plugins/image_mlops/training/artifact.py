"""The container-side scripts (image_mlops/include/scripts/) run as subprocesses; artifact packing.

Used by the CLI (``image-mlops train`` / ``evaluate``); the DAGs run the same ``train.py`` /
``evaluate.py`` inside SageMaker's containers.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from image_mlops.config import INCLUDE_DIR

log = logging.getLogger(__name__)
SCRIPTS_DIR = INCLUDE_DIR / "scripts"


class ScriptError(RuntimeError):
    """A container script exited non-zero; the message carries the end of its output."""


def hyperparameter_args(hyperparameters: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name in sorted(hyperparameters):
        args += [f"--{name.replace('_', '-')}", str(hyperparameters[name])]
    return args


def run_script(name: str, args: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``image_mlops/include/scripts/<name>`` with this interpreter; returns its output."""
    command = [sys.executable, str(SCRIPTS_DIR / name), *args]
    log.info("running %s", " ".join(command))
    proc = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (proc.stderr or "").splitlines()[-30:]:
        log.info("[%s] %s", name, line)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
        raise ScriptError(f"{name} exited with {proc.returncode}:\n{tail}")
    return proc.stdout


def train_local(
    train_dir: Path,
    model_dir: Path,
    *,
    validation_dir: Path | None = None,
    output_dir: Path | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> None:
    """``train.py`` with SageMaker's environment contract."""
    hyperparameters = hyperparameters or {}
    env = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir or model_dir.parent / "output"),
        "SM_HPS": json.dumps(hyperparameters),
    }
    if validation_dir is not None:
        env["SM_CHANNEL_VALIDATION"] = str(validation_dir)
    run_script("train.py", hyperparameter_args(hyperparameters), env)


def evaluate_local(model: Path, test_dir: Path, output: Path) -> dict:
    run_script(
        "evaluate.py", ["--model", str(model), "--test", str(test_dir), "--output", str(output)]
    )
    return json.loads(output.read_text())


def pack(model_dir: Path, out: Path) -> str:
    """``model.tar.gz`` of ``model_dir`` (reproducible: sorted, fixed mtime/owner); sha256."""
    buffer = io.BytesIO()
    import gzip

    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(model_dir.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(model_dir)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    data = buffer.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def unpack(artifact: Path, into: Path) -> Path:
    with tarfile.open(artifact, "r:gz") as tar:
        tar.extractall(into, filter="data")
    return into


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
