"""Attacks on the approval a human decides on: markdown hidden in class names and metadata.

Class names are S3 folder names (anyone who can upload can name one) and package metadata is
whatever a training run recorded. Before the fix they went into the HITL markdown as they
were: a ``|`` in a class name forged rows of the recall table. The body is rendered here with
a GFM-table markdown parser, as the Airflow UI renders it.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from image_mlops.deployment import approval, history
from image_mlops.registry import ModelPackage

FORGED_CLASS = "mug | 1.000 | 0.100 | +0.900 |\n| shoe"
FORGED_AUTHOR = "eve | trusted | [approve me](http://evil.example) **<script>x</script>**"


def _candidate(version: int, **metadata) -> ModelPackage:
    return ModelPackage(
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/m/{version}",
        version=version,
        approval_status="PendingManualApproval",
        artifact_uri=f"s3://models/m/{version}/model.tar.gz",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1",
        metadata=metadata,
    )


def _rows(markdown: str) -> list[list[str]]:
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    ]


def test_a_class_name_cannot_forge_rows_of_the_recall_table():
    body = approval.comparison_markdown(
        _candidate(3, trained_by=FORGED_AUTHOR),
        {"per_class": {FORGED_CLASS: {"recall": 0.2}, "bottle": {"recall": 0.9}}},
        _candidate(2, trained_by="bob"),
        {"per_class": {FORGED_CLASS: {"recall": 0.8}, "bottle": {"recall": 0.9}}},
    )
    rows = _rows(body)
    recall_rows = [r for r in rows if r[0] not in ("class", "") and len(r) == 4]
    # two classes, two rows: the forged one shows its whole name and its real recall drop
    assert len(recall_rows) == 2, rows
    forged = next(r for r in recall_rows if r[0].startswith("mug"))
    assert forged[0] == " ".join(FORGED_CLASS.split())
    assert forged[1:] == ["0.200", "0.800", "-0.600 ⚠"]
    table_html = MarkdownIt("commonmark").enable("table").render(body).split("<p>")[0]
    for markup in ("<a ", "<strong>", "<em>", "<script>", "<code>"):
        assert markup not in table_html, markup
    trained_by = next(r for r in rows if r[0] == "trained by")
    assert trained_by[1].startswith("eve | trusted") and trained_by[2] == "bob"


def test_deployment_history_cells_are_escaped():
    table = history.markdown(
        [
            {
                "stage": "staging",
                "package_version": 3,
                "endpoint_config_name": "cfg",
                "approver": "eve | x | y",
                "outcome": "deployed",
                "reason": "failed: `code` *bold* | forged |\n| row",
            }
        ]
    )
    rows = _rows(table)
    assert len(rows) == 2 and len(rows[1]) == 8, rows
    assert rows[1][3] == "eve | x | y"
