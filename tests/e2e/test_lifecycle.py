"""The whole lifecycle on the running local stack — the same story as `make demo`.

Driven through the running Airflow (scheduler, Assets, REST API, human-in-the-loop answered
through the REST API), then every stage's outcome is asserted from S3, the registry,
CloudWatch and PostgreSQL — not from what the story says about itself.
"""

from __future__ import annotations

import io

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.airflow_stack, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def story_result(airflow_services, clean_aws, test_output):
    from image_mlops.config import get_settings
    from image_mlops.demo.progress import Progress
    from image_mlops.demo.story import DemoStory
    from image_mlops.demo.summary import collect_summary, format_summary

    settings = get_settings()
    log = io.StringIO()
    story = DemoStory(
        settings,
        progress=Progress(stream=log),
        data_dir=settings.state_dir / "e2e-demo-data",
        timeout=900,
    )
    try:
        result = story.run()
        result.summary = collect_summary(settings)
        (test_output / "e2e-summary.txt").write_text(
            log.getvalue() + format_summary(settings, result)
        )
    finally:
        (test_output / "e2e-progress.log").write_text(log.getvalue())
        # Leave nothing scheduled behind for the tests that run after this module.
        for dag_id in story.client.dags():
            story.client.set_paused(dag_id["dag_id"], True)
    return settings, result


def test_every_dag_run_of_the_story_succeeded(story_result):
    _, result = story_result
    for dag_id, runs in result.runs.items():
        assert runs, dag_id
        assert all(state == "success" for _, state in runs), (dag_id, runs)
    assert {"deploy_model", "classify_images", "monitor_model"} <= set(result.runs)


def test_validation_quarantined_the_bad_inputs_with_reasons(story_result):
    _, result = story_result
    summary = result.summary
    assert summary["validated"]["labeled"] >= 5 * 40
    assert summary["validated"]["incoming"] > 0
    quarantined = summary["quarantined"]
    for reason in ("empty_file", "truncated", "not_an_image", "too_small", "duplicate"):
        assert quarantined.get(reason, 0) >= 1, quarantined


def test_both_approvals_were_answered_and_v1_serves_in_production(story_result):
    settings, result = story_result
    assert [option for _, option in result.approvals[:2]] == ["Approve", "Approve"]
    endpoints = {e["endpoint"]: e for e in result.summary["endpoints"]}
    production = endpoints[settings.endpoint_name("production")]
    assert production["status"] == "InService"
    assert str(production["version"]) == "1"
    assert endpoints[settings.endpoint_name("staging")]["status"] == "InService"


def test_images_were_classified_into_class_folders(story_result):
    _, result = story_result
    folders = result.summary["class_folders"]
    real_classes = {c for c in folders if not c.startswith("_")}
    assert len(real_classes) >= 5, folders
    assert sum(folders.values()) > 0


def test_kpis_and_alarms_are_in_cloudwatch(story_result):
    _, result = story_result
    assert result.summary["kpis"], "monitoring published no metric"
    assert result.summary["alarms"], "monitoring created no alarm"
    assert "ALARM" in result.summary["alarms"].values() or result.drift_training_runs == 1


def test_drift_started_exactly_one_retraining_and_a_second_version(story_result):
    _, result = story_result
    assert result.drift_training_runs == 1
    assert result.second_cooldown_training_runs == 0
    versions = [m["version"] for m in result.summary["models"]]
    assert len(versions) >= 2, result.summary["models"]
    first = result.summary["models"][0]
    assert first["status"] == "Approved"
    assert float(first["accuracy"]) >= 0.95
