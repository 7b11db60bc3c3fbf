-- The latest drift retraining that was triggered.
SELECT decided_at, trigger_run_id, reason
FROM retrain_decisions
WHERE decision = 'trigger'
ORDER BY decided_at DESC
LIMIT 1
