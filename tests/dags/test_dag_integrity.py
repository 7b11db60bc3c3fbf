"""Integrity and policy of every DAG file in dags/ (ARCHITECTURE.md, "Principles").

Each file must import without errors, define exactly one DAG whose dag_id is the file name,
and follow the house rules: tags, an owner that is not "airflow", retries >= 1,
catchup=False, a fixed timezone-aware start_date, doc_md. Parsing must stay cheap: no boto3
client, no Variable, no network and no ML library (numpy, sklearn, scipy, PIL, pandas, torch)
at import time. That is checked in a separate process which, after a baseline import of
``airflow.sdk``, forks once per DAG file with boto3/botocore client creation, Variable.get and
socket connections made to raise, and reports the modules the file added.

Parametrised over the files found, so new DAG files are checked without editing this test.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
FORBIDDEN = ("numpy", "sklearn", "scipy", "PIL", "pandas", "torch", "tensorflow", "cv2")

# Runs in a fresh interpreter: argv = DAG files; prints one JSON object per file.
PARSE_PROBE = r"""
import importlib.util, json, os, socket, sys, traceback

FORBIDDEN = set(sys.argv[1].split(","))
import airflow.sdk
import boto3, boto3.session, botocore.session
from airflow.sdk import DAG, Variable

baseline = set(sys.modules)
already = sorted(m for m in FORBIDDEN if m in baseline)


class ParseTimeViolation(RuntimeError):
    pass


def refuse(what):
    def refused(*args, **kwargs):
        raise ParseTimeViolation(f"{what} called while parsing the DAG file")
    return refused


boto3.client = refuse("boto3.client()")
boto3.resource = refuse("boto3.resource()")
boto3.session.Session.client = refuse("boto3 Session.client()")
boto3.session.Session.resource = refuse("boto3 Session.resource()")
botocore.session.Session.create_client = refuse("botocore Session.create_client()")
Variable.get = staticmethod(refuse("Variable.get()"))
socket.socket.connect = refuse("socket.connect() (network)")
socket.socket.connect_ex = refuse("socket.connect_ex() (network)")
socket.create_connection = refuse("socket.create_connection() (network)")
socket.getaddrinfo = refuse("socket.getaddrinfo() (network)")

for path in sys.argv[2:]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        out = {"file": path, "error": None, "forbidden": [], "dags": []}
        try:
            name = "dag_file_under_test_" + os.path.basename(path)[:-3]
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            order = [m for m in sys.modules if m not in baseline]
            for index, mod in enumerate(order):
                top = mod.split(".")[0]
                if top in FORBIDDEN and top not in {f["module"] for f in out["forbidden"]}:
                    before = order[max(0, index - 4):index]
                    out["forbidden"].append({"module": top, "after": before})
            out["dags"] = [v.dag_id for v in vars(module).values() if isinstance(v, DAG)]
        except BaseException as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["traceback"] = traceback.format_exc()[-4000:]
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(json.dumps(out))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    print(json.dumps({"baseline_forbidden": already, **json.loads(data)}), flush=True)
"""


def _ids(paths):
    return [p.stem for p in paths]


@pytest.fixture(scope="module")
def dag_bag():
    """The DAG folder parsed as the dag-processor does (no database needed)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def parse_reports() -> dict[str, dict]:
    """Per DAG file: import error, ML modules it added at parse time, DAG objects it holds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, ",".join(FORBIDDEN), *map(str, DAG_FILES)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            reports[Path(report["file"]).name] = report
    assert set(reports) == {p.name for p in DAG_FILES}, proc.stderr[-3000:]
    return reports


def test_there_are_dag_files():
    assert DAG_FILES, f"no DAG files in {DAGS}"


def test_dag_bag_has_no_import_errors(dag_bag):
    assert not dag_bag.import_errors, "\n\n".join(
        f"{path}:\n{error}" for path, error in dag_bag.import_errors.items()
    )


def _dags_of(dag_bag, path: Path):
    return [d for d in dag_bag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]


@pytest.mark.parametrize("path", DAG_FILES, ids=_ids(DAG_FILES))
def test_one_dag_per_file_named_like_the_file(dag_bag, path):
    dags = _dags_of(dag_bag, path)
    assert [d.dag_id for d in dags] == [path.stem], (
        f"{path.name} must define exactly one DAG with dag_id {path.stem!r}, "
        f"found {[d.dag_id for d in dags]}"
    )


@pytest.mark.parametrize("path", DAG_FILES, ids=_ids(DAG_FILES))
def test_dag_policy(dag_bag, path):
    dags = _dags_of(dag_bag, path)
    assert dags, f"{path.name}: no DAG parsed"
    for dag in dags:
        where = f"{path.name} ({dag.dag_id})"
        assert dag.tags, f"{where}: give the DAG tags"
        owner = dag.default_args.get("owner")
        assert owner and owner != "airflow", f"{where}: default_args owner must name a team"
        retries = dag.default_args.get("retries", 0)
        assert retries >= 1, f"{where}: default_args retries must be >= 1, is {retries}"
        assert dag.catchup is False, f"{where}: catchup must be False"
        assert dag.doc_md and dag.doc_md.strip(), f"{where}: doc_md (the module docstring)"
        start = dag.start_date
        assert start is not None, f"{where}: start_date is required"
        assert start.tzinfo is not None, f"{where}: start_date must be timezone-aware"
        for task in dag.tasks:
            assert task.owner == owner, f"{where}: task {task.task_id} has owner {task.owner}"


@pytest.mark.parametrize("path", DAG_FILES, ids=_ids(DAG_FILES))
def test_dag_shares_the_default_args_and_tells_the_topic_when_a_task_fails(dag_bag, path):
    """default_args from image_mlops.dag_defaults: a pendulum retry_delay, and every task's
    failure reaching the notification topic through the provider's SnsNotifier."""
    import pendulum
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    from image_mlops import dag_defaults
    from image_mlops.config import get_settings
    from image_mlops.notifications import TaskFailureNotifier, topic_arn

    [dag] = _dags_of(dag_bag, path)
    args = dag.default_args
    assert args["owner"] == dag_defaults.OWNER
    assert args["retry_delay"] == dag_defaults.RETRY_DELAY
    assert isinstance(args["retry_delay"], pendulum.Duration)
    notifier = args["on_failure_callback"]
    assert isinstance(notifier, TaskFailureNotifier) and isinstance(notifier, SnsNotifier)
    assert notifier.target_arn == topic_arn(get_settings())
    assert notifier.message_attributes["event"] == "task_failed"
    assert "{{ ti.log_url }}" in notifier.message
    for task in dag.tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert notifier in callbacks, f"{dag.dag_id}.{task.task_id} tells nobody when it fails"


def _dag_decorator_start_dates(tree: ast.AST) -> list[ast.expr]:
    """The start_date= expressions of @dag(...) decorators and DAG(...) calls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("dag", "DAG"):
                found += [kw.value for kw in node.keywords if kw.arg == "start_date"]
    return found


def _is_fixed_datetime(expr: ast.expr) -> bool:
    """``pendulum.datetime(2026, 1, 1, tz="UTC")``-like: a datetime call of literals only."""
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    literal = all(isinstance(a, ast.Constant) for a in expr.args) and all(
        isinstance(k.value, ast.Constant) for k in expr.keywords
    )
    return name == "datetime" and literal and bool(expr.args)


@pytest.mark.parametrize("path", DAG_FILES, ids=_ids(DAG_FILES))
def test_start_date_is_a_fixed_literal(path):
    """Not derived from now(): a start_date that moves makes the scheduler misbehave."""
    starts = _dag_decorator_start_dates(ast.parse(path.read_text(), filename=str(path)))
    assert starts, f"{path.name}: pass start_date= to @dag(...)"
    for expr in starts:
        assert _is_fixed_datetime(expr), (
            f"{path.name}:{expr.lineno}: start_date must be a fixed date such as "
            f'pendulum.datetime(2026, 1, 1, tz="UTC"), not {ast.unparse(expr)}'
        )


def test_the_start_date_check_can_fail():
    bad = ast.parse("@dag(start_date=pendulum.now().subtract(days=1))\ndef f(): ...")
    good = ast.parse('@dag(start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))\ndef f(): ...')
    assert not _is_fixed_datetime(_dag_decorator_start_dates(bad)[0])
    assert _is_fixed_datetime(_dag_decorator_start_dates(good)[0])


@pytest.mark.parametrize("path", DAG_FILES, ids=_ids(DAG_FILES))
def test_parse_time_is_cheap(parse_reports, path):
    """No boto3 client, Variable, network or ML library while the file is imported."""
    report = parse_reports[path.name]
    assert report["error"] is None, f"{path.name} failed to import: {report['error']}\n" + (
        report.get("traceback") or ""
    )
    problems = [
        f"{f['module']} (imported after {', '.join(f['after'])})" for f in report["forbidden"]
    ]
    assert not problems, (
        f"{path.name} imports ML libraries at parse time: {'; '.join(problems)}. "
        "Import them inside the @task functions."
    )


def test_the_parse_probe_catches_violations(tmp_path):
    """The probe itself can fail: a file that breaks each rule is reported."""
    cases = {
        "uses_numpy.py": "import numpy\n",
        "makes_client.py": "import boto3\nboto3.client('s3')\n",
        "reads_variable.py": "from airflow.sdk import Variable\nVariable.get('x')\n",
        "opens_socket.py": "import socket\nsocket.create_connection(('127.0.0.1', 9))\n",
    }
    for name, source in cases.items():
        (tmp_path / name).write_text(source)
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, ",".join(FORBIDDEN)]
        + [str(tmp_path / n) for n in sorted(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = {
        Path(r["file"]).name: r
        for r in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))
    }
    assert reports["uses_numpy.py"]["baseline_forbidden"] == []
    assert [f["module"] for f in reports["uses_numpy.py"]["forbidden"]] == ["numpy"]
    assert "boto3.client()" in reports["makes_client.py"]["error"]
    assert "Variable.get()" in reports["reads_variable.py"]["error"]
    assert "network" in reports["opens_socket.py"]["error"]


# -- plugins/.airflowignore --------------------------------------------------------------------
def _plugin_scan(folder: Path) -> list[str]:
    """The .py files Airflow's plugin manager would import from ``folder``."""
    from airflow._shared.module_loading import find_path_from_directory

    return sorted(
        str(Path(p).relative_to(folder))
        for p in find_path_from_directory(str(folder), ".airflowignore", "glob")
        if p.endswith(".py")
    )


def test_airflowignore_keeps_the_package_out_of_the_plugin_scan(tmp_path):
    plugins = ROOT / "plugins"
    scanned = _plugin_scan(plugins)
    assert not [p for p in scanned if p.startswith("image_mlops/")], scanned
    # Control: the same tree without the ignore file would be scanned module by module.
    copy = tmp_path / "plugins"
    (copy / "image_mlops").mkdir(parents=True)
    (copy / "image_mlops" / "config.py").write_text("")
    assert _plugin_scan(copy) == ["image_mlops/config.py"]
    (copy / ".airflowignore").write_text((plugins / ".airflowignore").read_text())
    assert _plugin_scan(copy) == []
