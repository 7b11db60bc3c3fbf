"""The whole lifecycle on the running local stack, driven through Airflow's REST API.

Stack up → demo catalogue and images → ``extract_product_catalog`` → ``validate_images`` →
``train_and_register`` → ``deploy_model`` (both approvals answered through the REST API, or
by you in the UI with ``DEMO_INTERACTIVE=1``) → ``classify_images`` → ``monitor_model`` →
injected drift → ``retrain_on_drift`` starts exactly one retraining → a second model version.

Downstream DAGs start from Assets as they would in production; the demo only triggers the
first DAG of each chain and follows what the scheduler starts.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from image_mlops.config import Settings
from image_mlops_dev.airflow_api import AirflowApiError, AirflowClient, ApprovalAnswerer
from image_mlops_dev.demo.progress import Progress
from image_mlops_dev.stack.settings import get_stack_settings

DAG_IDS = (
    "extract_product_catalog",
    "validate_images",
    "train_and_register",
    "deploy_model",
    "classify_images",
    "monitor_model",
    "retrain_on_drift",
    "ingest_labels",
)
ASSET_SCHEDULED = ("deploy_model", "classify_images", "monitor_model")


class DemoError(RuntimeError):
    pass


@dataclass
class DemoResult:
    runs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # dag → [(run, state)]
    approvals: list[tuple[str, str]] = field(default_factory=list)
    drift_training_runs: int = 0
    second_cooldown_training_runs: int = 0
    waiting_reason: str = ""
    reviewed: int = 0
    elapsed: float = 0.0
    summary: dict = field(default_factory=dict)


class DemoStory:
    def __init__(
        self,
        settings: Settings,
        *,
        client: AirflowClient | None = None,
        interactive: bool = False,
        progress: Progress | None = None,
        data_dir: Path | None = None,
        timeout: float = 900,
    ) -> None:
        self.settings = settings
        stack = get_stack_settings()
        self.airflow_url = stack.airflow_url
        self.client = client or AirflowClient(stack.airflow_api_url)
        self.interactive = interactive
        self.progress = progress or Progress()
        self.data_dir = data_dir or settings.state_dir / "demo-data"
        self.timeout = timeout
        self.result = DemoResult()
        self.answerer = ApprovalAnswerer(self.client, decide=lambda _detail: "Approve")
        self._prompted: set[tuple[str, str]] = set()

    # -- helpers -------------------------------------------------------------------------------
    def refuse_unfinished_runs(self) -> None:
        """The story starts from a quiet stack: a run left from an earlier demo (the last one
        ends with version 2 waiting for approval) would hold back the runs it starts."""
        unfinished = [
            f"{dag_id} {run['dag_run_id']} ({run['state']})"
            for dag_id in DAG_IDS
            for run in self.client.runs(dag_id, limit=20)
            if run["state"] in ("queued", "running")
        ]
        if unfinished:
            raise DemoError(
                "this stack still has runs from before: "
                + "; ".join(unfinished)
                + ". Finish them in the UI (the last demo leaves version 2 waiting for an "
                "approval), or start over with `make clean` and then `make demo`."
            )

    def _known_runs(self, dag_id: str) -> set[str]:
        return {r["dag_run_id"] for r in self.client.runs(dag_id, limit=100)}

    def _follow(self, dag_id: str, run_id: str, *, expect: str = "success") -> dict:
        def on_poll(run: dict) -> None:
            self.progress.status(f"{dag_id} {run['state']}")
            self._handle_approvals(dag_id, run_id)

        run = self.client.wait_for_run(dag_id, run_id, timeout=self.timeout, on_poll=on_poll)
        self.result.runs.setdefault(dag_id, []).append((run_id, run["state"]))
        if expect and run["state"] != expect:
            failed = self.client.failed_tasks(dag_id, run_id)
            raise DemoError(
                f"{dag_id} run {run_id} ended {run['state']} (failed tasks: "
                f"{', '.join(failed) or 'none'}); see the task logs at "
                f"{self.airflow_url}/dags/{dag_id}/runs/{run_id}"
            )
        return run

    def _handle_approvals(self, dag_id: str, run_id: str) -> None:
        if not self.interactive:
            before = len(self.answerer.answered)
            self.answerer.poll(dag_id, run_id)
            for task_id, option in self.answerer.answered[before:]:
                self.progress.line(f"  approval {task_id}: answered {option!r} via the REST API")
                self.result.approvals.append((task_id, option))
            return
        for detail in self.client.pending_approvals(dag_id, run_id):
            key = (run_id, detail["task_instance"]["task_id"])
            if key not in self._prompted:
                self._prompted.add(key)
                self.progress.line(
                    f"  waiting for your decision on {key[1]}: "
                    f"{self.airflow_url}/dags/{dag_id}/runs/{run_id}"
                )

    def trigger_and_follow(self, dag_id: str, conf: dict | None = None) -> str:
        run_id = self.client.trigger(dag_id, conf)
        self.progress.line(f"  {dag_id}: triggered run {run_id}")
        self._follow(dag_id, run_id)
        return run_id

    def start_and_follow(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause a time-scheduled DAG and follow its run.

        With ``catchup=False`` the scheduler starts the most recent scheduled run as soon as
        a DAG is unpaused; the demo follows that run instead of adding a second one, and
        triggers a run itself only when the DAG was already unpaused.
        """
        known = self._known_runs(dag_id)
        if (self.client.dag(dag_id) or {}).get("is_paused", True):
            self.client.set_paused(dag_id, False)
            try:
                run_id = self.client.wait_for_new_run(dag_id, known, timeout=30)
            except AirflowApiError:
                return self.trigger_and_follow(dag_id, conf)
            self.progress.line(f"  {dag_id}: unpaused, following its scheduled run {run_id}")
            self._follow(dag_id, run_id)
            return run_id
        return self.trigger_and_follow(dag_id, conf)

    def follow_asset_run(self, dag_id: str, known: set[str]) -> str:
        """Wait for the run that an Asset event starts, then follow it."""
        run_id = self.client.wait_for_new_run(dag_id, known, timeout=self.timeout)
        self.progress.line(f"  {dag_id}: started by an Asset event, run {run_id}")
        self._follow(dag_id, run_id)
        return run_id

    # -- the story -------------------------------------------------------------------------------
    def run(self) -> DemoResult:
        started = time.monotonic()
        p = self.progress
        with p.stage("Airflow: every DAG parsed"):
            self.client.wait_for_dags(list(DAG_IDS))
            self.refuse_unfinished_runs()
            # Asset-scheduled DAGs follow their producers from the start; time-scheduled ones
            # are unpaused at their stage (unpausing starts their latest scheduled run).
            for dag_id in ASSET_SCHEDULED:
                self.client.set_paused(dag_id, False)

        with p.stage("Demo data: product catalogue and images"):
            self.load_data()

        with p.stage("extract_product_catalog: catalogue → main images into raw/incoming/"):
            self.start_and_follow("extract_product_catalog")

        with p.stage("validate_images: every raw image validated or quarantined"):
            known_classify = self._known_runs("classify_images")
            self.start_and_follow("validate_images")
            # No production model yet: the run this starts ends with "nothing to classify".
            self.follow_asset_run("classify_images", known_classify)

        with p.stage("train_and_register: train, evaluate, quality gate, register v1"):
            known_deploys = self._known_runs("deploy_model")
            self.start_and_follow("train_and_register", {"reason": "demo: initial model"})

        with p.stage("deploy_model: approvals → staging → smoke test → production"):
            # Runs the next stages wait for are told apart from the ones known before their
            # cause: a fast classification can finish, and start monitoring, before the
            # story polls again.
            known_classify = self._known_runs("classify_images")
            known_monitor = self._known_runs("monitor_model")
            self.follow_asset_run("deploy_model", known_deploys)

        with p.stage("classify_images: new images into one folder per class"):
            self.follow_asset_run("classify_images", known_classify)

        with p.stage("monitor_model: KPIs, dashboard and alarms in CloudWatch"):
            self.follow_asset_run("monitor_model", known_monitor)

        with p.stage("Drift: shifted images and feedback arrive"):
            known_classify = self._known_runs("classify_images")
            known_monitor = self._known_runs("monitor_model")
            self.inject_drift()
            # the validated images start classification, and it monitoring, while the
            # validation run is still finishing
            self.trigger_and_follow("validate_images")
            self.follow_asset_run("classify_images", known_classify)
            self.follow_asset_run("monitor_model", known_monitor)

        with p.stage("retrain_on_drift: the drift alarm waits for labels of the new images"):
            known_training = self._known_runs("train_and_register")
            self.start_and_follow("retrain_on_drift", {"poke_seconds": 5, "wait_minutes": 5})
            if self._known_runs("train_and_register") - known_training:
                raise DemoError("retrain_on_drift retrained before any new label was recorded")
            decision = self.latest_retrain_decision()
            if decision["decision"] != "wait":
                raise DemoError(f"expected a 'wait' decision, found {decision}")
            self.result.waiting_reason = decision["reason"]
            p.line(f"  decision: {decision['reason']}")

        with p.stage("Labels: feedback and a human review become training data"):
            known_retrain = self._known_runs("retrain_on_drift")
            known_deploys = self._known_runs("deploy_model")
            self.result.reviewed = self.review_uncertain_images()
            self.start_and_follow("ingest_labels")
            p.line(f"  label events: {self.label_outcomes()}")

        with p.stage("retrain_on_drift: the new labels start exactly one retraining"):
            self.follow_asset_run("retrain_on_drift", known_retrain)
            new_training = self._known_runs("train_and_register") - known_training
            self.result.drift_training_runs = len(new_training)
            if len(new_training) != 1:
                raise DemoError(f"expected one retraining run, found {sorted(new_training)}")
            self._follow("train_and_register", new_training.pop())
            # A second look inside the cool-down starts nothing.
            known_training = self._known_runs("train_and_register")
            self.trigger_and_follow("retrain_on_drift", {"poke_seconds": 5, "wait_minutes": 1})
            again = self._known_runs("train_and_register") - known_training
            self.result.second_cooldown_training_runs = len(again)
            if again:
                raise DemoError(f"the cool-down did not hold: {sorted(again)}")
            p.line("  second evaluation inside the cool-down: no retraining (as designed)")
            try:
                run_id = self.client.wait_for_new_run("deploy_model", known_deploys, timeout=60)
                p.line(
                    f"  deploy_model {run_id} now waits for a human to approve version 2: "
                    f"{self.airflow_url}/dags/deploy_model/runs/{run_id}"
                )
            except AirflowApiError:
                pass

        self.result.elapsed = time.monotonic() - started
        return self.result

    def latest_retrain_decision(self) -> dict:
        from image_mlops.monitoring.retrain import recent_decisions

        return recent_decisions(self.settings, limit=1)[0]

    def label_outcomes(self) -> str:
        from image_mlops.labels.events import counts

        return "; ".join(
            f"{source}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            for source, outcomes in sorted(counts(self.settings).items())
        )

    def review_uncertain_images(self) -> int:
        """Play the reviewer: post the Review page's form with the true class of every image it
        shows (the demo knows them), as a person at the page would."""
        import csv

        from image_mlops.labels import review

        truth: dict[str, str] = {}
        for folder in (self.data_dir, self.data_dir.parent / "demo-data-drift"):
            with (folder / "truth.csv").open() as handle:
                truth.update((row["key"], row["label"]) for row in csv.DictReader(handle))
        posted = 0
        for _page in range(2):
            items = [i for i in review.queue(self.settings) if i.source_key in truth]
            if not items:
                break
            form = {"count": str(len(items))}
            for n, item in enumerate(items):
                form |= {
                    f"id-{n}": f"demo-{item.image_sha256[:16]}",
                    f"sha-{n}": item.image_sha256,
                    f"key-{n}": item.source_key,
                    f"label-{n}": truth[item.source_key],
                }
            self.client.post_form("/image-mlops/review", form)
            posted += len(items)
        self.progress.line(f"  reviewer: {posted} images confirmed or corrected on the Review page")
        return posted

    # -- data -------------------------------------------------------------------------------------
    def load_data(self) -> None:
        from image_mlops.aws import upload_tree
        from image_mlops.catalog.sample import load_sample
        from image_mlops_dev.demo.uploads import upload_bad_inputs, upload_feedback
        from image_mlops_dev.demo_data import generate

        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        counts = generate(self.data_dir, seed=0)
        self.progress.line(f"  generated {counts}")
        labeled = upload_tree(self.settings, self.data_dir / "labeled", "labeled/")
        incoming = upload_tree(self.settings, self.data_dir / "incoming", "incoming/")
        first = sorted((self.data_dir / "incoming").glob("*.jpg"))[0]
        bad = upload_bad_inputs(self.settings, first.read_bytes())
        upload_feedback(self.settings, self.data_dir / "feedback" / "feedback.csv", "demo.csv")
        catalog = load_sample(self.settings)
        self.progress.line(
            f"  raw/: {labeled} labelled, {incoming} incoming, {len(bad)} deliberately bad; "
            f"catalogue: {catalog}"
        )

    def inject_drift(self) -> None:
        from image_mlops.aws import upload_tree
        from image_mlops_dev.demo.uploads import upload_feedback
        from image_mlops_dev.demo_data import generate

        drift_dir = self.data_dir.parent / "demo-data-drift"
        if drift_dir.exists():
            shutil.rmtree(drift_dir)
        generate(drift_dir, per_class=0, incoming=120, seed=1, shifted=True)
        count = upload_tree(self.settings, drift_dir / "incoming", "incoming/")
        upload_feedback(self.settings, drift_dir / "feedback" / "feedback.csv", "drift.csv")
        self.progress.line(f"  {count} shifted images and their feedback uploaded")


def run_demo(
    settings: Settings,
    *,
    interactive: bool | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    from image_mlops_dev.demo.summary import collect_summary, format_summary

    if interactive is None:
        interactive = os.environ.get("DEMO_INTERACTIVE", "") not in ("", "0", "false")
    story = DemoStory(settings, interactive=interactive)
    result = story.run()
    result.summary = collect_summary(settings)
    say(format_summary(settings, result))
    return result
