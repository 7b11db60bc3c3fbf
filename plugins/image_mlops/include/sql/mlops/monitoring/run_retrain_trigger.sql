-- The retraining a run already decided on (its retry carries it out instead of deciding again).
SELECT decided_at, reason, alarms, trigger_run_id, drift_since
FROM retrain_decisions
WHERE decision = 'trigger'
  AND dag_run_id = %(dag_run_id)s
ORDER BY decided_at DESC
LIMIT 1
