"""The PyTorch 2.3 inference image's model server, run with the profile's virtualenv (never ours).

SageMaker's PyTorch inference image (``pytorch-inference:2.3.0-cpu-py311-ubuntu20.04-sagemaker``)
starts ``serve``: its entrypoint calls ``sagemaker_pytorch_serving_container.serving.main()``
(``SAGEMAKER_SERVING_MODULE``), which writes TorchServe's configuration, starts ``torchserve
--start`` (a Java frontend, ``org.pytorch.serve.ModelServer``, which starts Python workers running
the toolkit's ``handler_service``, itself ``sagemaker_inference``'s ``Transformer`` around the
model's ``code/inference.py``: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``), finds
the Java process, forwards SIGTERM to it and waits for it. :func:`main` below calls that same
``serving.main()``; everything that serves a request is the image's own code.

Sources:

* aws/deep-learning-containers, ``pytorch/inference/docker/2.3/py3/Dockerfile.cpu`` (target
  ``sagemaker``), ``pytorch/inference/buildspec-2-3-sm.yml`` (TorchServe 0.11.0,
  sagemaker-pytorch-inference 2.0.24), ``pytorch/inference/docker/build_artifacts/
  torchserve-entrypoint.py``: commit 41f3bcfb444fed5069384b18fd50d181efa92c27 (2024-07-08),
  the files' last content before commit 654586cc8b84b9013fa722a99029dbc4bac0d623
  (2024-07-30) removed the 2.3 folder.
* sagemaker-pytorch-inference 2.0.24 (PyPI; aws/sagemaker-pytorch-inference-toolkit):
  ``sagemaker_pytorch_serving_container/serving.py`` and ``torchserve.py``, and the
  ``sagemaker_inference`` package it ships inside itself.
* TorchServe 0.11.0 (pytorch/serve tag v0.11.0, 34bc370174c7aa4588889b344ca9b5e48ff47a89,
  2024-05-16): ``ts/model_server.py``.

What differs from the image, and why (the container's ``/`` is ``ROOT`` below: the folder two
levels above ``SAGEMAKER_BASE_DIR``, i.e. ``<workdir>`` for ``<workdir>/opt/ml``):

* ``torchserve.TS_CONFIG_FILE`` (hard-coded ``/etc/sagemaker-ts.properties``) is set to
  ``ROOT/etc/sagemaker-ts.properties``: the toolkit writes the generated configuration there,
  and two endpoints on one machine must not share one file.
* The working directory is ``ROOT`` (the image's is ``/``): the toolkit's ``MODEL_STORE``
  (``<cwd>/.sagemaker/ts/models``, computed at import) and TorchServe's ``logs/`` land in it.
  ``TMPDIR`` and ``TEMP`` (the image sets ``TEMP=/tmp``) are a short folder of this server's
  own under ``/tmp`` (``ROOT/tmp`` links to it): TorchServe keeps its ``.model_server.pid`` in
  the temporary folder and refuses to start while another TorchServe's pid file is there, and
  its workers bind Unix sockets there, whose paths AF_UNIX limits to 107 bytes.
* ``torchserve.psutil`` is rebound to a view of ``psutil`` whose ``process_iter`` lists this
  process's children only: the toolkit looks for *the* Java process among all processes
  (``_retrieve_ts_server_process``) and fails with "multiple ts model servers are not supported"
  when it finds two, which in a container (its own PID namespace) never happens, but on one
  machine with two endpoints does. This process makes itself a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), as the entrypoint is PID 1 of the container: the Java process,
  orphaned when ``torchserve --start`` exits, becomes its child, is found there, and is reaped
  when it stops (psutil's ``wait`` on a process that is not a child would poll for ever once it
  is a zombie).
* TorchServe's gRPC and metrics listeners, which SageMaker never calls and which default to
  the fixed ports 7070, 7071 and 8082 (free in a container's own network), take any free port
  (``TS_GRPC_INFERENCE_PORT``, ``TS_GRPC_MANAGEMENT_PORT``, ``TS_METRICS_ADDRESS``: TorchServe
  reads ``TS_*`` variables since the toolkit's configuration has ``enable_envvars_config=true``),
  so that two endpoints on one machine do not collide.
* The JVM heap is capped: the toolkit's ``vmargs=-XX:-UseContainerSupport`` lets the JVM take a
  quarter of the host's memory; :data:`JVM_ARGS` is appended to that line of the generated
  configuration (TorchServe passes ``vmargs`` to ``java``).
* ``torchserve`` is started by a launcher in ``ROOT/opt/conda/bin`` (first on ``PATH``) that
  runs TorchServe's own ``ts.model_server.start`` under this process's Python: TorchServe starts
  its workers with the Python that ran it, which in the image is the one Python; here it must be
  the container's Python (what ``code/requirements.txt`` installs lands in it), not the cached
  image virtualenv's that the ``torchserve`` console script names.
* On SIGTERM the toolkit stops Java (its own handler, which ``torchserve._add_sigterm_handler``
  is wrapped to note: exit status 0 after a SIGTERM, 1 when Java stopped by itself); this
  script then ends any worker left and exits, where the image's entrypoint would ``tail -f
  /dev/null``. A SIGTERM before the toolkit's handler is installed also stops everything this
  process started.
* Not the image's binaries: torch 2.13.0 (CPU) stands in for torch 2.3.0+cpu; no torchvision,
  torchaudio, torchtext; Python 3.11 from pyenv rather than conda's 3.11.9 (the profile,
  ``pytorch-2.3-inference.toml``, lists them).

Run as ``python pytorch_serving.py`` with the container's environment (``SAGEMAKER_BASE_DIR``,
``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_PROGRAM``, ``SAGEMAKER_MODEL_SERVER_WORKERS``, ``PATH``
with the virtualenv's ``bin`` and ``java``); it must import nothing of ours. The toolkit reads
the model's code from ``$SAGEMAKER_BASE_DIR/model/code`` (``SAGEMAKER_SUBMIT_DIRECTORY`` is not
used by it).
"""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import psutil

#: appended to the toolkit's ``vmargs``: a small heap (one model, one worker)
JVM_ARGS = "-Xms32m -Xmx512m"
_PR_SET_CHILD_SUBREAPER = 36
#: TorchServe's other listeners, on fixed ports by default (gRPC 7070 and 7071, metrics 8082):
#: any free port instead, so that two endpoints can run at once
_TS_PORTS = {
    "TS_GRPC_INFERENCE_PORT": "0",
    "TS_GRPC_MANAGEMENT_PORT": "0",
    "TS_METRICS_ADDRESS": "http://127.0.0.1:0",
}


class _Stop(Exception):
    """SIGTERM arrived before the toolkit took the signal over."""


def _on_sigterm(signo, frame):  # pylint: disable=unused-argument
    raise _Stop()


def _become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _write_launcher(folder):
    """``torchserve`` as TorchServe's console script, on this process's Python."""
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / "torchserve"
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom ts.model_server import start\nsys.exit(start())\n"
    )
    launcher.chmod(0o755)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


class _ContainerProcesses:
    """``psutil`` as seen inside the container: ``process_iter`` lists this process's
    children (the ``torchserve`` launcher while it runs, then the Java frontend it leaves)."""

    def __init__(self, psutil):
        self._psutil = psutil

    def __getattr__(self, name):
        return getattr(self._psutil, name)

    def process_iter(self, *args, **kwargs):  # pylint: disable=unused-argument
        return iter(self._psutil.Process().children())


def _stop_children():
    """End (TERM, then KILL) and reap whatever this process still has below it, until nothing
    is left (a process forked while the others stop is handed to us, and ended next round)."""
    for _round in range(5):
        children = [c for c in psutil.Process().children(recursive=True) if _alive(c)]
        if not children:
            break
        _end(children)
    while True:  # reap what is left as zombies (the launcher's, the workers')
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def _alive(process):
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _end(children):
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=5)


def _serve(terminated):
    """Set the container's paths, then run the toolkit's ``serving.main()`` until Java stops."""
    base = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")).resolve()
    os.environ["SAGEMAKER_BASE_DIR"] = str(base)
    root = base.parent.parent
    # a short folder of this server's own under /tmp, not ROOT/tmp: TorchServe's workers bind
    # Unix sockets there, and a socket's path is at most 107 bytes (AF_UNIX)
    tmp = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    (root / "tmp").symlink_to(tmp)  # where the container's /tmp would be
    (root / "etc").mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = os.environ["TEMP"] = str(tmp)
    tempfile.tempdir = None
    os.chdir(root)  # before the toolkit's import: its MODEL_STORE is <cwd>/.sagemaker/ts/models
    for name, value in _TS_PORTS.items():  # enable_envvars_config=true: TS_* override the file
        os.environ.setdefault(name, value)
    _become_subreaper()
    _write_launcher(root / "opt" / "conda" / "bin")

    from sagemaker_pytorch_serving_container import serving, torchserve

    torchserve.TS_CONFIG_FILE = str(root / "etc" / "sagemaker-ts.properties")
    torchserve.psutil = _ContainerProcesses(psutil)
    generate = torchserve._generate_ts_config_properties
    add_sigterm_handler = torchserve._add_sigterm_handler

    def _generate_with_heap(handler_service):
        text = generate(handler_service)
        return re.sub(r"^vmargs=(.*)$", rf"vmargs=\1 {JVM_ARGS}", text, count=1, flags=re.M)

    def _add_noted_sigterm_handler(ts_process):
        add_sigterm_handler(ts_process)  # the toolkit's: SIGTERM to Java
        forward = signal.getsignal(signal.SIGTERM)

        def _noting(signo, frame):
            terminated.append(signo)
            forward(signo, frame)

        signal.signal(signal.SIGTERM, _noting)

    torchserve._generate_ts_config_properties = _generate_with_heap
    torchserve._add_sigterm_handler = _add_noted_sigterm_handler
    serving.main()


def main():
    """0 after a SIGTERM (everything started is stopped), 1 when the server stopped by itself."""
    terminated = []
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _serve(terminated)
    except _Stop:
        terminated.append(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_children()
        if os.environ.get("TMPDIR", "").startswith("/tmp/ts-"):
            shutil.rmtree(os.environ["TMPDIR"], ignore_errors=True)
    return 0 if terminated else 1


if __name__ == "__main__":
    sys.exit(main())
