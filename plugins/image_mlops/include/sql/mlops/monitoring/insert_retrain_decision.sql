INSERT INTO retrain_decisions
    (decided_at, decision, reason, alarms, trigger_run_id, dag_run_id, drift_since)
VALUES (%(decided_at)s, %(decision)s, %(reason)s, %(alarms)s, %(trigger_run_id)s, %(dag_run_id)s,
        %(drift_since)s)
