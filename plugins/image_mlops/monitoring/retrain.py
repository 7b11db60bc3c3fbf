"""The retraining decision of ``retrain_on_drift``, with its guards.

Guards, in order (the first that holds decides "skip", with its reason):

1. no drift alarm in ALARM → skip;
2. a ``train_and_register`` run is already queued or running → skip (at most one active);
3. a drift retraining was triggered less than ``retrain_cooldown_minutes`` ago → skip
   (this is also what stops a retrain storm while an alarm *stays* in ALARM).
4. fewer than ``drift_retrain_min_new_labels`` labels were recorded after the data snapshot
   of the latest registered model → **wait** ("waiting for labels: n of m"): a retraining on
   the data the current model already saw cannot learn the drift. ``ingest_labels`` emits the
   labelled area's Asset event when it adds labels, and ``retrain_on_drift`` is scheduled on
   it too, so the decision is taken again as soon as labels arrive (the alarm still in ALARM).

Otherwise → trigger, with a deterministic run id per cool-down slot
(``drift_retrain__<slot start>``), so even a racing or retried trigger in the same slot
is a no-op (``skip_when_already_exists``). Every decision is logged and stored in the
``retrain_decisions`` table (image_mlops DB) under an advisory lock; the last "trigger"
row is what the cool-down reads.

Every decision also records when its **drift episode** began (``drift_since``): the first
decision after the latest drift retraining starts an episode at the moment the alarms in
ALARM then moved there, and later decisions carry it. A retraining is compared on the
held-out labels recorded since its episode began (``train_and_register``'s ``drift_since``),
so labels of the drifted images count even when the alarms in ALARM change meanwhile (input
drift clears while the recall alarms, which need those labels, fire).

A decision belongs to its run: a retried (or cleared) ``decide`` of a run that already
decided to trigger returns that same decision, so the retraining it chose is carried out
(its own row would otherwise read as the cool-down and skip it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from image_mlops.config import Settings

log = logging.getLogger(__name__)

TARGET_DAG_ID = "train_and_register"
RUN_ID_PREFIX = "drift_retrain__"
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class Decision:
    trigger: bool
    reason: str
    trigger_run_id: str | None = None
    alarms: list[str] = field(default_factory=list)
    #: the drift is real but the labels to learn it are not there yet
    waiting: bool = False
    #: when this decision's drift episode began (ISO 8601), None without an alarm in ALARM
    drift_since: str | None = None

    @property
    def outcome(self) -> str:
        return "trigger" if self.trigger else "wait" if self.waiting else "skip"

    def as_dict(self) -> dict:
        return asdict(self)


def cooldown_run_id(now: dt.datetime, cooldown_minutes: int) -> str:
    """``drift_retrain__<start of the cool-down slot now falls in>`` (UTC, epoch-aligned)."""
    slot = max(1, int(cooldown_minutes)) * 60
    start = int(now.timestamp()) // slot * slot
    return f"{RUN_ID_PREFIX}{dt.datetime.fromtimestamp(start, dt.UTC):%Y%m%dT%H%M%SZ}"


def decide(
    *,
    alarms: Sequence[str],
    now: dt.datetime,
    cooldown_minutes: int,
    active_runs: int,
    last_trigger_at: dt.datetime | None,
    new_labels: dict | None = None,
    min_new_labels: int = 0,
) -> Decision:
    """The pure decision (no I/O): see the module docstring for the guards.

    ``new_labels``: ``{"total": n, "by_source": {...}}`` recorded after the latest registered
    model's data snapshot (only read when ``min_new_labels`` > 0)."""
    alarms = sorted(alarms)
    if not alarms:
        return Decision(False, "no drift alarm is in ALARM")
    if active_runs > 0:
        return Decision(
            False,
            f"{active_runs} {TARGET_DAG_ID} run(s) already queued or running; "
            "at most one at a time",
            alarms=alarms,
        )
    cooldown = dt.timedelta(minutes=cooldown_minutes)
    if last_trigger_at is not None and now - last_trigger_at < cooldown:
        return Decision(
            False,
            f"cool-down: last drift retraining at {last_trigger_at.isoformat()}, next allowed "
            f"after {(last_trigger_at + cooldown).isoformat()} ({cooldown_minutes} min)",
            alarms=alarms,
        )
    labels_note = ""
    if min_new_labels > 0:
        have = int((new_labels or {}).get("total", 0))
        by_source = ", ".join(
            f"{source} {n}" for source, n in sorted((new_labels or {}).get("by_source", {}).items())
        )
        labels_note = f"; {have} new labels ({by_source or 'none'})"
        if have < min_new_labels:
            return Decision(
                False,
                f"waiting for labels: {have} of {min_new_labels} new labels since the latest "
                f"model's data snapshot ({by_source or 'none yet'}); label the drifted images "
                "(feedback files or the Review page) and ingest_labels starts this again",
                alarms=alarms,
                waiting=True,
            )
    return Decision(
        True,
        "drift alarms in ALARM: " + ", ".join(alarms) + labels_note,
        trigger_run_id=cooldown_run_id(now, cooldown_minutes),
        alarms=alarms,
    )


def episode_start(previous: tuple | None, alarms_since: dt.datetime | None) -> dt.datetime | None:
    """When the drift episode of a decision began: carried from the ``previous`` decision
    (``(decided_at, decision, alarms, drift_since)``) unless that one triggered a retraining
    or had none; otherwise ``alarms_since``, when the alarms in ALARM now moved there."""
    if previous is not None and previous[1] != "trigger" and previous[3] is not None:
        return previous[3]
    return alarms_since


def ensure_table(cur) -> None:
    from image_mlops.monitoring.sources import sql

    cur.execute(sql("retrain_decisions"))


def decide_and_record(
    settings: Settings,
    *,
    alarms: Sequence[str],
    active_runs: int,
    dag_run_id: str | None,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide under a database lock and store the decision with its reason."""
    from image_mlops.monitoring.sources import pg_hook, sql

    now = now or dt.datetime.now(dt.UTC)
    new_labels, alarms_since = None, None
    if alarms:
        from image_mlops.monitoring.alarms import drift_alarm_since

        alarms_since = drift_alarm_since(settings)  # CloudWatch and S3: before the lock
        if settings.drift_retrain_min_new_labels > 0:
            from image_mlops.training.steps import new_labels as count_new_labels

            new_labels = count_new_labels(settings)
    conn = pg_hook(settings).get_conn()
    try:
        with conn, conn.cursor() as cur:
            ensure_table(cur)
            cur.execute(sql("lock_retrain_decisions"))
            if dag_run_id:
                cur.execute(sql("run_retrain_trigger"), {"dag_run_id": dag_run_id})
                own = cur.fetchone()
                if own:
                    _, reason, decided_alarms, trigger_run_id, since = own
                    log.info("run %s decided to retrain already: %s", dag_run_id, trigger_run_id)
                    return Decision(
                        True,
                        reason,
                        trigger_run_id,
                        list(decided_alarms or []),
                        drift_since=since.isoformat() if since else None,
                    )
            cur.execute(sql("last_retrain_decision"))
            previous = cur.fetchone()
            cur.execute(sql("last_retrain_trigger"))
            row = cur.fetchone()
            decision = decide(
                alarms=alarms,
                now=now,
                cooldown_minutes=settings.retrain_cooldown_minutes,
                active_runs=active_runs,
                last_trigger_at=row[0] if row else None,
                new_labels=new_labels,
                min_new_labels=settings.drift_retrain_min_new_labels,
            )
            since = episode_start(previous, alarms_since) if decision.alarms else None
            decision = replace(decision, drift_since=since.isoformat() if since else None)
            cur.execute(
                sql("insert_retrain_decision"),
                {
                    "decided_at": now,
                    "decision": decision.outcome,
                    "reason": decision.reason,
                    "alarms": json.dumps(list(decision.alarms)),
                    "trigger_run_id": decision.trigger_run_id,
                    "dag_run_id": dag_run_id,
                    "drift_since": since,
                },
            )
    finally:
        conn.close()
    log.info("Retraining decision: %s — %s", decision.outcome.upper(), decision.reason)
    notify_decision(settings, decision, previous, alarms_since, dag_run_id)
    return decision


def notify_decision(
    settings: Settings,
    decision: Decision,
    previous: tuple | None,
    alarms_since: dt.datetime | None,
    dag_run_id: str | None,
) -> list[str]:
    """Tell the notification topic what this decision changes; returns the events sent.

    ``drift_alarm`` when the alarm is news (no decision since the alarms in ALARM now moved
    there, ``alarms_since``), ``retraining_started`` at every trigger, ``waiting_for_labels``
    when a wait follows anything but a wait: a decision taken every few minutes while the
    alarm stays in ALARM tells people once.
    """
    from image_mlops import notifications

    if not decision.alarms:
        return []
    events = []
    previous_at, previous_outcome = (previous[0], previous[1]) if previous else (None, None)
    alarm_is_news = previous_at is None or (alarms_since is not None and previous_at < alarms_since)
    if alarm_is_news:
        events.append(
            (
                "drift_alarm",
                f"Drift alarm: {settings.model_name}",
                "In ALARM: " + ", ".join(decision.alarms),
            )
        )
    if decision.trigger:
        events.append(
            (
                "retraining_started",
                f"Retraining {settings.model_name}: {decision.trigger_run_id}",
                decision.reason,
            )
        )
    elif decision.waiting and (alarm_is_news or previous_outcome != "wait"):
        events.append(
            (
                "waiting_for_labels",
                f"Retraining {settings.model_name} waits for labels",
                decision.reason,
            )
        )
    for event, subject, message in events:
        notifications.notify(settings, event, subject, message, run_id=dag_run_id)
    return [event for event, _, _ in events]


def recent_decisions(settings: Settings, limit: int = 20) -> list[dict]:
    from image_mlops.monitoring.sources import pg_hook, sql

    conn = pg_hook(settings).get_conn()
    try:
        with conn, conn.cursor() as cur:
            ensure_table(cur)
            cur.execute(sql("recent_retrain_decisions"), {"limit": limit})
            names = [c[0] for c in cur.description]
            return [dict(zip(names, r, strict=False)) for r in cur.fetchall()]
    finally:
        conn.close()
