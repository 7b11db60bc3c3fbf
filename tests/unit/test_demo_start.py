"""The demo refuses to start on a stack with unfinished runs instead of waiting behind them."""

from __future__ import annotations

import pytest

from image_mlops.config import Settings
from image_mlops_dev.demo.story import DAG_IDS, DemoError, DemoStory


class Runs:
    """The part of the Airflow REST client the check uses: the latest runs of each DAG."""

    def __init__(self, runs: dict[str, list[dict]]) -> None:
        self._runs = runs

    def runs(self, dag_id: str, limit: int = 50) -> list[dict]:
        return self._runs.get(dag_id, [])[:limit]


def test_a_run_waiting_for_approval_from_an_earlier_demo_stops_the_demo_with_what_to_do():
    client = Runs(
        {
            "deploy_model": [
                {"dag_run_id": "asset_triggered__v2", "state": "running"},
                {"dag_run_id": "asset_triggered__v1", "state": "success"},
            ]
        }
    )
    story = DemoStory(Settings(), client=client)
    with pytest.raises(DemoError) as refused:
        story.refuse_unfinished_runs()
    message = str(refused.value)
    assert "deploy_model asset_triggered__v2 (running)" in message
    assert "v1" not in message
    assert "make clean" in message


def test_a_quiet_stack_is_accepted():
    finished = {dag_id: [{"dag_run_id": "r", "state": "success"}] for dag_id in DAG_IDS}
    DemoStory(Settings(), client=Runs(finished)).refuse_unfinished_runs()
    DemoStory(Settings(), client=Runs({})).refuse_unfinished_runs()
