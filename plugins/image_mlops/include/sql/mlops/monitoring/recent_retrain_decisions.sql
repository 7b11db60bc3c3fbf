SELECT decided_at, decision, reason, trigger_run_id, dag_run_id
FROM retrain_decisions
ORDER BY decided_at DESC
LIMIT %(limit)s
