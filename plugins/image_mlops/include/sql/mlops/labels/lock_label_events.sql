-- One ingest at a time (a transaction-scoped advisory lock; released at commit).
SELECT pg_advisory_xact_lock(hashtext('image_mlops.label_events'));
