-- The deployment records of one DAG run, in stage order.
SELECT deployment_id, run_id, stage, package_arn, package_version, endpoint_name,
       endpoint_config_name, previous_config_name, model_name, approver, started_at,
       finished_at, outcome, reason, smoke_samples, smoke_accuracy, smoke_errors,
       latency_p50_ms, latency_p95_ms, traffic_routing, steps
FROM deployments
WHERE run_id = %(run_id)s
ORDER BY started_at, deployment_id
