"""Registry metadata values are ones SageMaker accepts, and keep their meaning.

SageMaker refuses a CustomerMetadataProperties value that does not match botocore's
``CustomerMetadataValue`` pattern or is longer than 256 characters; before, lineage counts went
in as JSON (``{"upload":150}``) and retraining reasons with their commas."""

from __future__ import annotations

import botocore.session
import regex

from image_mlops import registry
from image_mlops.training.steps import lineage_metadata


def _value_shape():
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.shape_for("CustomerMetadataValue")


def _accepted(value: str) -> bool:
    shape = _value_shape()
    return (
        shape.metadata["min"] <= len(value) <= shape.metadata["max"]
        and regex.fullmatch(shape.metadata["pattern"], value) is not None
    )


def test_the_pattern_refuses_what_was_sent_before():
    assert not _accepted('{"upload":150}')
    assert not _accepted("model_accuracy in ALARM, input_drift in ALARM")


def test_lineage_counts_are_accepted_and_decode_back():
    snap = {
        "lineage": {
            "by_source": {"upload": 150, "feedback": 3},
            "new_since_previous": {"total": 93, "by_source": {"feedback": 90, "review": 3}},
        }
    }
    metadata = lineage_metadata(snap, {})
    assert all(_accepted(v) for v in metadata.values()), metadata
    assert registry.decode_counts(metadata["labels_by_source"]) == {"upload": 150, "feedback": 3}
    assert metadata["new_labels"] == "93"
    assert registry.decode_counts(metadata["new_labels_by_source"]) == {"feedback": 90, "review": 3}


def test_free_text_keeps_its_words_within_the_limit():
    reason = "drift: model_accuracy in ALARM, input_drift in ALARM (90% of 'recent') " * 8
    value = registry.metadata_text(reason)
    assert _accepted(value)
    assert value.startswith(
        "drift: model_accuracy in ALARM / input_drift in ALARM - 90 pct of recent"
    )
    assert len(value) == registry.METADATA_VALUE_MAX


def test_values_already_accepted_are_unchanged():
    for value in (
        "s3://models/clf/3/model.tar.gz",
        "2026-12-06T12:00:00+00:00",
        "0.912345",
        "ümlaut ok",
    ):
        assert registry.metadata_text(value) == value


def test_an_empty_value_is_left_out():
    """SageMaker's minimum length is 1: a model trained with no new labels has no
    ``new_labels_by_source`` rather than an empty one."""
    assert _value_shape().metadata["min"] == 1
    values = registry.metadata_values({"new_labels": "0", "new_labels_by_source": "", "r": "()"})
    assert values == {"new_labels": "0", "r": "-"}


def test_empty_and_missing_counts_decode_to_nothing():
    assert registry.decode_counts(None) == {}
    assert registry.decode_counts("") == {}
    assert registry.encode_counts({}) == ""
