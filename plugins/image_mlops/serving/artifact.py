"""Load a SageMaker-style ``model.tar.gz`` and run its own ``code/inference.py`` in process.

The artifact is extracted once into a folder; ``code/inference.py`` is imported under a name
unique to that folder, so two model versions can be loaded side by side. ``model_fn`` runs
once; each request then goes through ``input_fn`` → ``predict_fn`` → ``output_fn`` exactly as
in the SageMaker scikit-learn serving container.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
import tarfile
import threading
from pathlib import Path
from types import ModuleType

INFERENCE_FILE = "code/inference.py"
HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn")


class ArtifactError(RuntimeError):
    """The artifact cannot be loaded (missing inference code, bad archive, model_fn failed)."""


def extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into ``dest`` once (atomic: a half-extracted folder is never used)."""
    marker = dest / ".extracted"
    if marker.exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArtifactError(f"{archive} is not a readable model.tar.gz: {exc}") from exc
    (tmp / ".extracted").write_text("ok")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def _import_inference(model_dir: Path) -> ModuleType:
    path = model_dir / INFERENCE_FILE
    if not path.is_file():
        raise ArtifactError(
            f"the artifact has no {INFERENCE_FILE} (SageMaker script mode needs it)"
        )
    digest = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    name = f"image_mlops_inference_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    code_dir = str(path.parent)
    sys.path.insert(0, code_dir)  # sibling modules of inference.py, as in the container
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ArtifactError(f"importing {INFERENCE_FILE} failed: {exc!r}") from exc
    finally:
        if code_dir in sys.path:
            sys.path.remove(code_dir)
    missing = [h for h in HANDLERS if not callable(getattr(module, h, None))]
    if missing:
        raise ArtifactError(f"{INFERENCE_FILE} does not define {', '.join(missing)}")
    sys.modules[name] = module
    return module


class LoadedModel:
    """An extracted artifact with its model loaded by its own ``model_fn``."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.module = _import_inference(model_dir)
        try:
            self.model = self.module.model_fn(str(model_dir))
        except Exception as exc:
            raise ArtifactError(f"model_fn failed: {exc!r}") from exc
        self._lock = threading.Lock()

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        """One request through input_fn → predict_fn → output_fn; returns the response body."""
        data = self.module.input_fn(body, content_type)
        prediction = self.module.predict_fn(data, self.model)
        result = self.module.output_fn(prediction, accept)
        if isinstance(result, tuple):  # (body, content_type) as some handlers return
            result = result[0]
        return result.encode() if isinstance(result, str) else bytes(result)


def load_archive(archive: Path, cache_dir: Path) -> LoadedModel:
    """Extract ``archive`` under ``cache_dir`` (keyed by its sha256) and load it."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    return LoadedModel(extract(archive, cache_dir / digest))
