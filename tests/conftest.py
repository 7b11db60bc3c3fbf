"""Test harness: an isolated local stack for the whole test session (under pytest-xdist, for
each worker process: ``make test`` runs four).

Before anything imports Airflow, this file points every setting at a private state folder
and free ports, so tests never touch the developer's ``.local/`` stack (``make up``) and
several test sessions (or workers) can run at once. The services start lazily, once per
session:

* ``local_stack``  — embedded PostgreSQL + the AWS emulator, buckets and model package group;
* ``airflow_db``   — plus a migrated Airflow metadata database (for ``dag.test()``);
* ``airflow_services`` — plus the running api-server, scheduler, dag-processor, triggerer.

``aws`` gives boto3 clients on the emulator acting as the worker role (as Airflow's tasks
do); ``admin`` clients with the stack's bootstrap key, for a test's own setup that no role of
the template may do; ``clean_aws`` empties the buckets first.

Modules share their worker's stack one after the other, so each leaves it as it found it
(``module_leaves_the_stack_as_it_found_it``); their order is shuffled by a printed seed
(``--module-order``, ``--module-order-seed``). See docs/tests.md, "Parallel and isolated".
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))

from image_mlops_dev.stack.identities import (  # noqa: E402
    BOOTSTRAP_SECRET,
    LOCAL_ACCESS_KEY_ID,
)
from image_mlops_dev.stack.manager import (  # noqa: E402
    AIRFLOW_DB_CACHE,
    CONTAINER_VENVS,
    LocalStack,
    isolated_environment,
    local_aws_connection,
    private_stack_environment,
)
from image_mlops_dev.stack.processes import free_port  # noqa: E402

_STATE = Path(tempfile.mkdtemp(prefix="image-mlops-test-"))
# every stack of the run (each worker's, the ones tests start) loads the Airflow database the
# first of them migrated; set here, in the controller, before pytest-xdist starts its workers
_OWN_AIRFLOW_DB_CACHE = AIRFLOW_DB_CACHE not in os.environ
if _OWN_AIRFLOW_DB_CACHE:
    os.environ[AIRFLOW_DB_CACHE] = tempfile.mkdtemp(prefix="image-mlops-test-airflow-db-")
# the container profiles' virtualenvs: built once, then kept for later runs (and other
# checkouts) in the user's cache, outside the checkout; every stack of the run uses them
os.environ.setdefault(
    CONTAINER_VENVS,
    str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "image-mlops"
        / "container-venvs"
    ),
)
_PG_PORT, _EMULATOR_PORT, _AIRFLOW_PORT = free_port(), free_port(), free_port()
# The test stack's own settings win over anything from .env or the shell.
os.environ.update(private_stack_environment(_STATE, _PG_PORT, _EMULATOR_PORT, _AIRFLOW_PORT))
for _key in [k for k in os.environ if k.startswith("IMAGE_MLOPS_") and k.endswith("_BUCKET")]:
    del os.environ[_key]

from image_mlops.config import get_settings  # noqa: E402
from image_mlops_dev.stack.settings import get_stack_settings  # noqa: E402

_stack = LocalStack(get_settings(), emulator_faults=True)  # the fault suite needs its rules
# The tests act as Airflow does (the worker role, credentials from the environment): a key of
# the shell's would take their place.
for _key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_key, None)
os.environ.update(_stack.airflow_environment())  # the profile above wins (TESTS_TIMING)
#: An AWS connection with the stack's bootstrap key, for tests whose own setup acts beyond the
#: worker role (CloudWatch hooks in a namespace of their own, say); tasks never use it.
ADMIN_CONN = "aws_test_admin"
os.environ[f"AIRFLOW_CONN_{ADMIN_CONN.upper()}"] = json.dumps(
    {
        **local_aws_connection(_EMULATOR_PORT, _STATE / "emulator" / "tls" / "ca.pem"),
        "login": LOCAL_ACCESS_KEY_ID,
        "password": os.environ[BOOTSTRAP_SECRET],
    }
)
# Unit tests and dag.test() run tasks in this process: no need for the examples' noise.
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"

TEST_OUTPUT = ROOT / "test-output"


def pytest_sessionfinish(session) -> None:
    """Stop this process's stack when its session ends. A hook, not ``atexit``: pytest-xdist
    ends its workers without running ``atexit`` handlers, and a worker's session finishes
    before it reports to the controller, which waits for that report (after it, a worker's
    teardown may be cut short)."""
    try:
        _stack.down(say=lambda _m: None)
    finally:
        # IMAGE_MLOPS_TEST_KEEP_STATE=1 keeps the stack's logs and journal to read after a failure
        if os.environ.get("IMAGE_MLOPS_TEST_KEEP_STATE") != "1":
            shutil.rmtree(_STATE, ignore_errors=True)
        if _OWN_AIRFLOW_DB_CACHE and not hasattr(session.config, "workerinput"):
            shutil.rmtree(os.environ[AIRFLOW_DB_CACHE], ignore_errors=True)  # all workers done


def bootstrap_client_arguments(env: dict[str, str]) -> dict[str, str]:
    """boto3 client arguments for the emulator of the stack ``env`` describes (a private one
    started by a test): its endpoint over TLS, its CA, and its bootstrap key."""
    state = Path(env["IMAGE_MLOPS_STATE_DIR"])
    return {
        "endpoint_url": f"https://127.0.0.1:{env['IMAGE_MLOPS_EMULATOR_PORT']}",
        "region_name": "us-east-1",
        "verify": str(state / "emulator" / "tls" / "ca.pem"),
        "aws_access_key_id": LOCAL_ACCESS_KEY_ID,
        "aws_secret_access_key": env[BOOTSTRAP_SECRET],
    }


def private_stack_env(state: Path, pg: int, emulator: int, airflow: int) -> dict[str, str]:
    """The environment of a second, private stack (for `image-mlops` run as a subprocess):
    this session's Airflow and stack settings removed, its own folder, ports and connections."""
    return isolated_environment(dict(os.environ), state, pg, emulator, airflow)


@pytest.fixture(scope="session")
def stack() -> LocalStack:
    """The session's stack object (nothing started)."""
    return _stack


_STACK_IN_USE: list[bool] = []  # [True] once local_stack started (a session fixture)
_UNPAUSED: set[str] = set()  # DAGs the current module unpaused on the running Airflow
_LAST_AIRFLOW_SERVICES_MODULE = ""  # set by pytest_collection_modifyitems


@pytest.fixture(scope="session")
def local_stack(stack: LocalStack) -> LocalStack:
    """Embedded PostgreSQL and the AWS emulator, with buckets and the model package group."""
    stack.start_postgres()
    stack.start_emulator()
    stack.deploy_aws_side()
    _STACK_IN_USE.append(True)
    return stack


@pytest.fixture(scope="session")
def airflow_db(local_stack: LocalStack) -> LocalStack:
    """A migrated Airflow metadata database on the embedded PostgreSQL."""
    local_stack.migrate_airflow()
    return local_stack


#: The modules that use the running Airflow (``airflow_services``) live in this folder, and one
#: worker runs them all (:func:`pytest_xdist_make_scheduler`): an idle Airflow costs about 8
#: CPU-seconds a minute (the dag-processor's parses, the scheduler's loop), so one running for
#: the few minutes these modules take, rather than one per worker for the whole run.
AIRFLOW_SERVICES_DIR = "tests/airflow_services/"


@pytest.fixture(scope="session")
def airflow_services(airflow_db: LocalStack) -> LocalStack:
    """The running Airflow services (api-server, scheduler, dag-processor, triggerer), for the
    modules of :data:`AIRFLOW_SERVICES_DIR`; stopped after the last of them."""
    airflow_db.start_airflow()
    return airflow_db


def airflow_client(dag_ids: list[str]):
    """A REST client on the session's running Airflow, with ``dag_ids`` parsed and unpaused."""
    from image_mlops_dev.airflow_api import AirflowClient

    client = AirflowClient(get_stack_settings().airflow_api_url)
    client.wait_for_dags(dag_ids, timeout=300)
    for dag_id in dag_ids:
        client.set_paused(dag_id, False)
        _UNPAUSED.add(dag_id)
    return client


@pytest.fixture(scope="module", autouse=True)
def module_leaves_the_stack_as_it_found_it(request):
    """Each module owns what it puts on the session's stack (one per pytest-xdist worker,
    shared by the modules that worker runs): when it is done, the DAGs it unpaused are paused
    again, its endpoints (and their autoscaling) are deleted, the data they captured is given
    its round to land, and the buckets are emptied, so no module reads what another left
    (the smoke test samples ``labeled/``, a deployment reads the production endpoint). The
    registry's packages, CloudWatch's data and the databases' rows stay: they are keyed by
    run, and AWS keeps metric data whatever one deletes."""
    yield
    if _STACK_IN_USE:
        _pause_unpaused_dags()
        if request.node.nodeid == _LAST_AIRFLOW_SERVICES_MODULE:
            # this worker got every module that uses the running Airflow, and none is left
            _stack.stop_airflow(say=lambda _m: None)
        if _delete_endpoints():
            # SageMaker writes captured data a while after the invocation (the emulator every
            # few seconds): let the deleted endpoints' last round land before the emptying
            from image_mlops_dev.emulator.sagemaker.invocations import FLUSH_SECONDS

            time.sleep(FLUSH_SECONDS + 1)
        AwsClients(admin=True).empty_buckets()


def _pause_unpaused_dags() -> None:
    if not _UNPAUSED:
        return
    from image_mlops_dev.airflow_api import AirflowClient

    client = AirflowClient(get_stack_settings().airflow_api_url)
    for dag_id in sorted(_UNPAUSED):
        client.set_paused(dag_id, True)
    _UNPAUSED.clear()


def _delete_endpoints() -> bool:
    """Deregister every scalable target, then delete every endpoint once it has settled
    (bootstrap key: the emulator's own tests name endpoints outside the worker role's
    ``<model>-*``); returns whether one of them captured data."""
    from image_mlops.deployment import scaling
    from image_mlops_dev.stack.identities import admin_client

    sagemaker, autoscaling = admin_client("sagemaker"), admin_client("application-autoscaling")
    for target in autoscaling.describe_scalable_targets(ServiceNamespace=scaling.NAMESPACE)[
        "ScalableTargets"
    ]:
        autoscaling.deregister_scalable_target(
            ServiceNamespace=scaling.NAMESPACE,
            ResourceId=target["ResourceId"],
            ScalableDimension=target["ScalableDimension"],
        )
    clients, capturing = AwsClients(admin=True), False
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for endpoint in page["Endpoints"]:
            settled = wait_endpoint_settled(clients, endpoint["EndpointName"], timeout=300)
            capturing |= bool(settled.get("DataCaptureConfig", {}).get("EnableCapture"))
            sagemaker.delete_endpoint(EndpointName=endpoint["EndpointName"])
    return capturing


@pytest.fixture
def settings(local_stack):
    return get_settings()


class AwsClients:
    """boto3 clients on the emulator, built through the same Airflow connection as tasks
    (or, ``admin=True``, with the stack's bootstrap key)."""

    def __init__(self, admin: bool = False) -> None:
        self._clients: dict[str, object] = {}
        self._admin = admin

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            if self._admin:
                from image_mlops_dev.stack.identities import admin_client as make
            else:
                from image_mlops.aws import aws_client as make
            self._clients[service] = make(service.replace("_", "-"))
        return self._clients[service]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return sorted(
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        )

    def empty_buckets(self) -> None:
        for bucket in get_settings().buckets:
            keys = self.keys(bucket)
            for start in range(0, len(keys), 1000):
                self.s3.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
                )


@pytest.fixture(scope="session")
def aws(local_stack) -> AwsClients:
    """Clients on the emulator acting as the worker role: ``aws.s3``, ``aws.sagemaker``, ..."""
    return AwsClients()


@pytest.fixture(scope="session")
def admin(local_stack) -> AwsClients:
    """Clients with the stack's bootstrap key (a test's own setup beyond the worker role)."""
    return AwsClients(admin=True)


#: The role of the emulator's own tests' jobs, models and functions (the compute behind the
#: APIs, not the template's permissions, is what those tests exercise): SageMaker and Lambda
#: may assume it, and it may use every bucket, log group and metric.
#: The default image of the built-in model (``job.image_uri`` of the default settings): the
#: emulator runs jobs and model servers in its container profile.
SKLEARN_IMAGE = (
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
)
EMULATOR_TEST_ROLE = "image-mlops-emulator-tests"


def create_emulator_test_role(iam) -> str:
    """:data:`EMULATOR_TEST_ROLE` through ``iam`` (a client with the bootstrap key), once;
    returns its ARN."""
    try:
        return iam.get_role(RoleName=EMULATOR_TEST_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["sagemaker.amazonaws.com", "lambda.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=EMULATOR_TEST_ROLE, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    everything = {"Effect": "Allow", "Action": ["s3:*", "logs:*", "cloudwatch:*"], "Resource": "*"}
    iam.put_role_policy(
        RoleName=EMULATOR_TEST_ROLE,
        PolicyName="emulator-tests",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}),
    )
    return arn


@pytest.fixture(scope="session")
def emulator_test_role(admin) -> str:
    """The ARN of :data:`EMULATOR_TEST_ROLE` on the session's emulator."""
    return create_emulator_test_role(admin.iam)


@pytest.fixture
def notification_inbox(local_stack):
    """A queue of this test's own subscribed to the notification topic; ``inbox()`` drains it
    (the notifications sent since the last call, oldest first)."""
    import uuid

    from image_mlops_dev.notification_inbox import drain, subscribe_queue, unsubscribe_queue

    url = subscribe_queue(f"test-inbox-{uuid.uuid4().hex[:12]}")
    yield lambda: drain(url)
    unsubscribe_queue(url)


@pytest.fixture
def clean_aws(aws: AwsClients) -> AwsClients:
    """Like ``aws``, with every bucket emptied first."""
    aws.empty_buckets()
    return aws


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Folder for artefacts a person may want to look at (screenshots, reports)."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def dag_bag(airflow_db):
    """The project's DAG files, parsed as the dag-processor would."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def run_dag(dag_bag, dag_id: str, conf: dict | None = None, **kwargs):
    """Run one DAG of ``dags/`` with ``dag.test()``; returns the finished DagRun.

    The DAG is paused meanwhile: when the session's Airflow services run (an earlier test
    started them), their scheduler would otherwise take this run's tasks too (it examines
    the running runs of unpaused DAGs) — a rescheduled sensor then belongs to neither.
    """
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    dag = dag_bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not in dags/: {dag_bag.import_errors}"
    with create_session() as session:
        model = session.get(DagModel, dag_id)
        was_paused = model.is_paused if model is not None else None
        if model is not None:
            model.is_paused = True
    try:
        return dag.test(run_conf=conf, **kwargs)
    finally:
        if was_paused is not None:
            with create_session() as session:
                session.get(DagModel, dag_id).is_paused = was_paused


# -- Module order ---------------------------------------------------------------------------
# Every module must pass after any other (each owns what it puts on the stack, see
# ``module_leaves_the_stack_as_it_found_it``), so the order of modules is shuffled by a seed
# that every run prints; tests keep their order within a module (some tell a story step by
# step). Modules marked ``slow`` (minutes each) are shuffled among themselves and start first,
# so that a parallel run does not end waiting for one of them.

MODULE_ORDERS = ("random", "reverse", "alphabetical")


def pytest_addoption(parser):
    group = parser.getgroup("image-mlops")
    group.addoption(
        "--module-order",
        choices=MODULE_ORDERS,
        default="random",
        help="order of the test modules: shuffled by --module-order-seed (default), or the "
        "collected order reversed, or alphabetical; tests keep their order within a module",
    )
    group.addoption(
        "--module-order-seed",
        type=int,
        default=None,
        help="seed of the random module order (default: a new one, printed in the header)",
    )


def _module_order_seed(config) -> int:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a pytest-xdist worker: the controller's seed
        return workerinput["module_order_seed"]
    if config.option.module_order_seed is None:
        import random

        config.option.module_order_seed = random.SystemRandom().randrange(10**6)
    return config.option.module_order_seed


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: every worker collects in the controller's order (xdist requires it)."""
    node.workerinput["module_order_seed"] = _module_order_seed(node.config)


def pytest_report_header(config):
    order = config.option.module_order
    if order != "random":
        return f"module order: {order}"
    seed = _module_order_seed(config)
    return f"module order: random, seed {seed} (again: --module-order-seed={seed})"


def _uses_airflow_services(item) -> bool:
    return item.nodeid.startswith(AIRFLOW_SERVICES_DIR)


def _minutes(item) -> float:
    """About how long the module of ``item`` takes in a parallel run: what its ``slow``
    marker says (2 when it names no figure), 4 for the running Airflow's unit, 0 for a
    module of seconds."""
    if _uses_airflow_services(item):
        return 4
    slow = item.get_closest_marker("slow")
    return 0 if slow is None else slow.kwargs.get("minutes", 2)


def pytest_collection_modifyitems(config, items):
    import random

    global _LAST_AIRFLOW_SERVICES_MODULE
    modules: dict[str, list] = {}
    for item in items:
        if "airflow_services" in item.fixturenames and not _uses_airflow_services(item):
            raise pytest.UsageError(
                f"{item.nodeid} uses the running Airflow: move its module to "
                f"{AIRFLOW_SERVICES_DIR} (one worker runs those modules, and stops Airflow "
                "after the last of them)"
            )
        modules.setdefault(str(item.path), []).append(item)
    paths = list(modules)
    order = config.option.module_order
    if order == "random":
        random.Random(_module_order_seed(config)).shuffle(paths)
        # the longest first, so that a run does not end waiting for one that started late
        paths.sort(key=lambda path: -_minutes(modules[path][0]))
    elif order == "reverse":
        paths.reverse()
    else:
        paths.sort()
    items[:] = [item for path in paths for item in modules[path]]
    shared = [item.nodeid.split("::")[0] for item in items if _uses_airflow_services(item)]
    _LAST_AIRFLOW_SERVICES_MODULE = shared[-1] if shared else ""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's ``--dist loadfile`` with two changes: the modules of
    :data:`AIRFLOW_SERVICES_DIR` are one unit of work (one worker, one running Airflow), and
    the units go out in the collected order (the module order above) rather than sorted by
    their number of tests."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModulesAndOneRunningAirflow(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(AIRFLOW_SERVICES_DIR):
                return AIRFLOW_SERVICES_DIR
            return super()._split_scope(nodeid)

    config.option.loadscopereorder = False  # xdist's --no-loadscope-reorder
    return ModulesAndOneRunningAirflow(config, log)


def pytest_terminal_summary(terminalreporter):
    """Where the time went: seconds by module (setup, call and teardown), slowest first."""
    by_module: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call", "teardown"):
                module = report.nodeid.split("::")[0]
                by_module[module] = by_module.get(module, 0.0) + report.duration
    if not by_module:
        return
    terminalreporter.write_sep("=", "seconds by module (slowest 25)")
    for module, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}  {module}")
    total = sum(by_module.values())
    terminalreporter.write_line(f"{total:8.1f}  in all ({len(by_module)} modules)")


def wait_for_alarm_states(hook, expected: dict[str, str], timeout: float = 20.0) -> dict:
    """Wait until CloudWatch (the emulator evaluates alarms as data arrives) shows ``expected``
    (alarm name → state); returns the alarms' DescribeAlarms records by name."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        alarms = {a["AlarmName"]: a for a in hook.describe_alarms(alarm_names=list(expected))}
        states = {name: alarm["StateValue"] for name, alarm in alarms.items()}
        if states == expected:
            return alarms
        assert time.monotonic() < deadline, f"alarm states {states}, expected {expected}"
        time.sleep(0.2)


def wait_for_alarm_evaluation(after=None, timeout: float = 20.0) -> None:
    """Wait until the emulator has evaluated the alarms on everything that arrived so far
    (and, with ``after``, in a round that started after it)."""
    import datetime as dt
    import time

    from image_mlops_dev.stack.identities import emulator_call

    deadline = time.monotonic() + timeout
    while True:
        times = {
            k: dt.datetime.fromisoformat(v) if v else None
            for k, v in emulator_call("/_emulator/alarms/evaluated").items()
        }
        evaluated, notified = times["evaluated_at"], times["notified_at"]
        covered = evaluated and (notified is None or evaluated > notified)
        if covered and (after is None or evaluated > after):
            return
        assert time.monotonic() < deadline, f"alarms not evaluated since {after}: {times}"
        time.sleep(0.2)


def wait_endpoint_settled(aws, name: str, timeout: float = 90) -> dict:
    """``DescribeEndpoint`` of ``name`` once it is InService or Failed: the package's one wait
    for an endpoint (botocore's ``endpoint_in_service`` waiter), checking every 0.2 s."""
    from image_mlops.deployment.endpoints import wait_for_endpoint

    return wait_for_endpoint(aws.sagemaker, name, timeout=timeout, poll=0.2)


def log_lines(logs, group: str, prefix: str) -> list[str]:
    """The messages of the CloudWatch Logs streams of ``group`` whose names start with
    ``prefix`` (a job's streams; ``""``: all of them)."""
    by_prefix = {"logStreamNamePrefix": prefix} if prefix else {}
    streams = logs.describe_log_streams(logGroupName=group, **by_prefix)
    return [
        event["message"]
        for stream in streams["logStreams"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
            "events"
        ]
    ]


def endpoint_invocations(endpoint_name: str) -> int:
    """``POST /invocations`` the emulator's model servers of ``endpoint_name`` have answered
    (their logs, as SageMaker's would be in CloudWatch): proof that a request reached them."""
    folder = get_settings().state_dir / "emulator" / "jobs" / "endpoints" / endpoint_name
    return sum(
        log.read_text(errors="replace").count('"POST /invocations')
        for log in folder.glob("*/container.log")
    )


def delete_labelled(settings, marker: str) -> None:
    """Remove the validated labelled images whose key holds ``marker`` (a test's own tag): the
    smoke tests of later tests sample the labelled area."""
    from image_mlops.aws import aws_client

    s3 = aws_client("s3", settings)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.validated_bucket, Prefix="labeled/"
    )
    keys = [o["Key"] for page in pages for o in page.get("Contents", []) if marker in o["Key"]]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(
            Bucket=settings.validated_bucket,
            Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
        )
