"""Key mapping, batching and the Step Functions definition (no services)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from image_mlops import s3layout
from image_mlops.validation import batches, pipeline

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "plugins/image_mlops/include/statemachines/validate_images.asl.json"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("labeled/cats/a.jpg", "labeled/cats/a.jpg"),
        ("/incoming//a b ü.jpg", "incoming/a b ü.jpg"),
        ("incoming/x/../y.jpg", "incoming/y.jpg"),
        ("incoming/../labeled/cats/a.jpg", None),
        ("incoming/../../a.jpg", None),
        ("labeled/noclass.jpg", None),
    ],
)
def test_validated_key(raw, expected):
    if expected is None:
        with pytest.raises(s3layout.UnsafeKeyError):
            s3layout.validated_key(raw)
    else:
        assert s3layout.validated_key(raw) == expected


def test_batches_keep_sorted_order_and_put_objects_of_one_size_together():
    # the ETags say nothing of the bytes (SSE-KMS): copies are known by their size only
    items = [{"key": f"incoming/{i:03d}.jpg", "etag": f'"{i}"', "size": 10 + i} for i in range(10)]
    items.append({"key": "incoming/999.jpg", "etag": '"other"', "size": 10})  # copy of 000?
    planned = batches.plan_batches(items, 4)
    assert sorted(i["key"] for b in planned for i in b) == sorted(i["key"] for i in items)
    assert any({"incoming/000.jpg", "incoming/999.jpg"} <= {i["key"] for i in b} for b in planned)
    assert all(len(b) <= 4 for b in planned)
    assert all(b == sorted(b, key=lambda i: i["key"]) for b in planned)
    assert len(batches.plan_batches(items, 200)) == 1
    # more objects of one size than a batch holds: batches of at most the batch size
    same = [{"key": f"incoming/s{i:03d}.png", "etag": f'"{i}"', "size": 7} for i in range(9)]
    planned = batches.plan_batches(same, 4)
    assert [len(b) for b in planned] == [4, 4, 1]
    assert [i["key"] for b in planned for i in b] == sorted(i["key"] for i in same)


def test_collisions_after_normalisation_keep_the_first_key():
    items = [
        pipeline.manifest_item("r", {"key": k, "etag": '"e"', "size": 1})
        for k in ("incoming/a.jpg", "incoming//a.jpg")
    ]
    pipeline._resolve_collisions(items)
    assert [i["unsafe"] is None for i in sorted(items, key=lambda i: i["key"])] == [True, False]


def test_metric_data_has_reason_dimension():
    data = pipeline.metric_data({"validated": 3, "by_reason": {"truncated": 2}})
    dims = [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in data]
    assert dims == [
        {"Outcome": "validated", "Reason": "none"},
        {"Outcome": "quarantined", "Reason": "truncated"},
    ]
    assert {m["MetricName"] for m in data} == {"ValidationResults"}


def _states(states: dict):
    for name, state in states.items():
        yield name, state, states
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"]["States"])


def test_state_machine_definition_is_valid_and_names_the_handler():
    definition = json.loads(ASL.read_text())
    assert definition["StartAt"] in definition["States"]
    tasks = []
    for name, state, scope in _states(definition["States"]):
        for target in [state.get("Next"), state.get("Default")] + [
            c.get("Next") for c in state.get("Catch", []) + state.get("Choices", [])
        ]:
            assert target is None or target in scope, f"{name} → {target}"
        assert state.get("End") or state.get("Next") or state["Type"] in ("Succeed", "Fail")
        if state["Type"] == "Task":
            tasks.append(state)
    assert tasks and all(t["Resource"] == "${ValidateFunctionArn}" for t in tasks)
    assert all("validate_lambda.handler" in t["Comment"] for t in tasks)
    inner = definition["States"]["ValidateBatches"]["ItemProcessor"]
    assert inner["StartAt"] in inner["States"]


@pytest.mark.parametrize(
    "path",
    [
        "plugins/image_mlops/validation/checks.py",
        "plugins/image_mlops/validation/mover.py",
        "plugins/image_mlops/validation/validator.py",
        "plugins/image_mlops/include/scripts/validate_lambda.py",
    ],
)
def test_lambda_modules_are_standalone(path):
    """What ships in the Lambda zip imports no Airflow and no image_mlops."""
    import ast

    allowed = set(sys.stdlib_module_names) | {
        "PIL",
        "boto3",
        "image_checks",
        "image_mover",
        "image_validator",
        "__future__",
    }
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{path} imports {name}"
