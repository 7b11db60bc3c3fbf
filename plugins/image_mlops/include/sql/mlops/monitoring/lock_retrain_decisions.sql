-- Serialise concurrent deciders (transaction-scoped advisory lock).
SELECT pg_advisory_xact_lock(hashtext('image_mlops.retrain_decisions'))
