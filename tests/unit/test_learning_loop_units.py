"""The learning loop's pure parts: feedback rows, label precedence, names in the labelled area,
the snapshot's lineage and recent window, the waiting decision and the two-window gate."""

from __future__ import annotations

import datetime as dt

import pytest

from image_mlops.labels import events
from image_mlops.labels.events import LabelEvent
from image_mlops.labels.feedback import parse
from image_mlops.labels.ingest import labeled_key
from image_mlops.monitoring.retrain import decide
from image_mlops.training import dataset, gate

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def _event(source: str, label: str, minutes: int, id_: int) -> LabelEvent:
    return LabelEvent(
        source=source,
        source_ref="x",
        row_ref=str(id_),
        image_key="incoming/a.jpg",
        label=label,
        actor="someone",
        labelled_at=T0 + dt.timedelta(minutes=minutes),
        id=id_,
    )


def test_every_feedback_row_is_an_event_or_a_recorded_reason():
    text = "\n".join(
        [
            "key,label",
            "incoming/a.jpg,mug",
            "labeled/mug/b.jpg,mug",
            "incoming/c.jpg,",
            "incoming/d.jpg,book",
        ]
    )
    rows = list(parse("feedback/day1.csv", '"etag1"', text, T0))
    assert [(r.row_ref, r.status) for r in rows] == [
        ("2", events.PENDING),
        ("3", events.BAD_KEY),
        ("4", events.EMPTY_LABEL),
        ("5", events.PENDING),
    ]
    assert {r.source_ref for r in rows} == {"feedback/day1.csv@etag1"}  # the file's version
    assert (
        rows[0].label == "mug"
        and rows[0].labelled_at == T0
        and rows[0].actor == "feedback/day1.csv"
    )
    assert "row 3" in rows[1].detail


def test_a_feedback_file_without_the_header_is_one_bad_header_event():
    rows = list(parse("feedback/x.csv", "e", "image,class\nincoming/a.jpg,mug\n", T0))
    assert [(r.row_ref, r.status) for r in rows] == [("header", events.BAD_HEADER)]
    assert "'key,label'" in rows[0].detail


def test_a_review_beats_feedback_even_when_the_feedback_is_later():
    review = _event(events.REVIEW, "bottle", 0, 1)
    feedback = _event(events.FEEDBACK, "mug", 60, 2)
    assert events.winner([feedback, review]) is review


def test_between_equal_sources_the_later_label_wins():
    early, late = _event(events.FEEDBACK, "mug", 0, 1), _event(events.FEEDBACK, "lamp", 5, 2)
    assert events.winner([late, early]) is late
    same_time = _event(events.FEEDBACK, "book", 5, 3)  # then the one recorded last
    assert events.winner([same_time, late]) is same_time


def test_an_upload_and_feedback_weigh_the_same_and_time_decides():
    upload = _event(events.UPLOAD, "mug", 0, -1)
    assert events.winner([upload, _event(events.FEEDBACK, "lamp", 1, 1)]).label == "lamp"
    assert events.winner([_event(events.REVIEW, "mug", -5, 2), upload]).source == events.REVIEW


def test_a_labelled_name_is_never_taken_from_a_different_image():
    a, b = "a" * 64, "b" * 64
    assert labeled_key("mug", "incoming/shop1/x.jpg", a, {}) == "labeled/mug/x.jpg"
    taken = {"labeled/mug/x.jpg": b}
    assert labeled_key("mug", "incoming/shop2/x.jpg", a, taken) == f"labeled/mug/x-{a[:16]}.jpg"
    assert labeled_key("mug", "incoming/x.jpg", b, taken) == "labeled/mug/x.jpg"  # its own


def _items():
    return [
        {
            "key": "labeled/mug/u1.jpg",
            "label": "mug",
            "sha256": "1",
            "source": "upload",
            "recorded_at": "2026-11-20T08:00:00+00:00",
        },
        {
            "key": "labeled/mug/f1.jpg",
            "label": "mug",
            "sha256": "2",
            "source": "feedback",
            "recorded_at": "2026-12-01T11:00:00+00:00",
        },
        {
            "key": "labeled/book/r1.jpg",
            "label": "book",
            "sha256": "3",
            "source": "review",
            "recorded_at": "2026-12-01T12:00:00+00:00",
        },
    ]


def test_the_snapshot_lineage_counts_sources_days_and_what_is_new():
    lineage = dataset.lineage(_items(), previous_keys={"labeled/mug/u1.jpg"})
    assert lineage["by_source"] == {"feedback": 1, "review": 1, "upload": 1}
    assert lineage["by_day"] == {
        "2026-11-20": {"upload": 1},
        "2026-12-01": {"feedback": 1, "review": 1},
    }
    assert lineage["new_since_previous"] == {"total": 2, "by_source": {"feedback": 1, "review": 1}}
    # lineage does not change the fingerprint: the same files and labels, the same snapshot
    bare = [{k: i[k] for k in ("key", "label", "sha256")} for i in _items()]
    assert dataset.fingerprint(bare) == dataset.fingerprint(_items())


def test_the_recent_window_is_held_out_labels_recorded_since_the_alarm():
    manifest = {
        "items": [
            {**i, "split": split}
            for i, split in zip(_items(), ("test", "train", "validation"), strict=True)
        ]
    }
    since = dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
    # the feedback label is recent but in train (the model saw it); the upload is old
    assert [i["key"] for i in dataset.recent_held_out(manifest, since)] == ["labeled/book/r1.jpg"]


def test_a_drift_episode_begins_after_a_retraining_and_is_carried_until_the_next():
    from image_mlops.monitoring.retrain import episode_start

    alarm, later = T0, T0 + dt.timedelta(minutes=20)
    # no decision yet, or the previous one triggered a retraining: the alarms' own time
    assert episode_start(None, alarm) == alarm
    assert episode_start((T0, "trigger", [], T0 - dt.timedelta(days=1)), later) == later
    # a wait (or skip) carries its episode, even when the alarms in ALARM moved since
    # (input drift cleared, the recall alarms the new labels revealed fired)
    assert episode_start((T0, "wait", [], alarm), later) == alarm
    assert episode_start((T0, "skip", [], alarm), None) == alarm
    # a decision made before episodes were recorded starts one
    assert episode_start((T0, "wait", [], None), later) == later


def test_the_recent_window_starts_at_the_given_time_or_says_what_is_wrong():
    from image_mlops.training.steps import recent_window_start

    assert recent_window_start(None, "2026-12-01T10:30:00+00:00") == T0 + dt.timedelta(minutes=30)
    assert recent_window_start(None, "2026-12-01T10:30:00Z") == T0 + dt.timedelta(minutes=30)
    assert recent_window_start(None, "2026-12-01T10:30") == T0 + dt.timedelta(minutes=30)  # UTC
    with pytest.raises(ValueError, match="'yesterday' is not an ISO 8601 time"):
        recent_window_start(None, "yesterday")


def _decide(**kw):
    base = {
        "alarms": ["image-mlops-m-tp-low-mug"],
        "now": T0,
        "cooldown_minutes": 60,
        "active_runs": 0,
        "last_trigger_at": None,
    }
    return decide(**{**base, **kw})


def test_a_drift_alarm_waits_for_labels_then_triggers():
    waiting = _decide(new_labels={"total": 12, "by_source": {"feedback": 12}}, min_new_labels=50)
    assert waiting.trigger is False and waiting.waiting is True and waiting.outcome == "wait"
    assert waiting.reason.startswith("waiting for labels: 12 of 50")
    go = _decide(
        new_labels={"total": 50, "by_source": {"feedback": 40, "review": 10}}, min_new_labels=50
    )
    assert go.trigger is True and go.outcome == "trigger"
    assert "50 new labels (feedback 40, review 10)" in go.reason
    assert _decide(min_new_labels=0).trigger is True  # 0 = do not wait


def test_the_cool_down_decides_before_the_labels():
    decision = _decide(
        last_trigger_at=T0 - dt.timedelta(minutes=5), new_labels={"total": 0}, min_new_labels=50
    )
    assert decision.outcome == "skip" and "cool-down" in decision.reason


def _recent(candidate: float, production: float | None, n: int = 20) -> dict:
    return {
        "since": "2026-12-01T10:00:00+00:00",
        "n": n,
        "candidate": {"accuracy": candidate, "macro_f1": candidate, "n": n},
        "production": {"accuracy": production, "macro_f1": production, "n": n}
        if production is not None
        else None,
    }


@pytest.mark.parametrize(
    ("recent", "passed"),
    [
        (_recent(0.90, 0.55), True),  # learnt the drift
        (_recent(0.54, 0.55), True),  # within the tolerance
        (_recent(0.50, 0.55), False),  # worse than production on the recent labels
        (_recent(0.50, None), True),  # nothing to compare with
        ({"note": "no drift alarm in ALARM: recent-window comparison skipped"}, True),
    ],
)
def test_the_gate_compares_on_the_test_split_and_the_recent_window(recent, passed):
    result = gate.decide(
        {"accuracy": 0.97}, {"accuracy": 0.96}, min_accuracy=0.8, max_regression=0.02, recent=recent
    )
    assert result.passed is passed, result.reasons
    if not passed:
        assert "labels since 2026-12-01T10:00:00+00:00" in result.reasons[0]
    assert result.as_dict()["max_regression"] == 0.02


def test_the_gate_still_fails_a_regression_on_the_test_split():
    result = gate.decide(
        {"accuracy": 0.90},
        {"accuracy": 0.96},
        min_accuracy=0.8,
        max_regression=0.02,
        recent=_recent(0.95, 0.50),
    )
    assert result.passed is False and "same test set" in result.reasons[0]


def test_the_approval_shows_both_windows_and_the_labels_lineage():
    from image_mlops.deployment.approval import gate_data_markdown

    text = "\n".join(
        gate_data_markdown(
            {
                "comparison": {
                    "test": {
                        "candidate": {"accuracy": 0.97, "n": 54},
                        "production": {"accuracy": 0.96, "n": 54},
                    },
                    "recent": {**_recent(0.9, 0.55), "by_source": {"feedback": 9, "review": 11}},
                },
                "data_lineage": {
                    "by_source": {"upload": 360, "feedback": 90},
                    "new_since_previous": {"total": 90, "by_source": {"feedback": 90}},
                },
            }
        )
    )
    assert "| test split | 0.970 (n=54) | 0.960 (n=54) |" in text
    assert "feedback 9, review 11) | 0.900 (n=20) | 0.550 (n=20) |" in text
    assert "new since the previous model: 90 (feedback 90)" in text
