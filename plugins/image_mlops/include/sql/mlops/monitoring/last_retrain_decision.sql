-- The latest decision of retrain_on_drift, whatever it was (what a notification compares with).
SELECT decided_at, decision, alarms, drift_since
FROM retrain_decisions
ORDER BY decided_at DESC, id DESC
LIMIT 1
