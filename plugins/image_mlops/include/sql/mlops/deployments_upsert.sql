-- Insert or update one deployment record given as JSON. A NULL field keeps the stored
-- value, so each task adds what it knows (re-running a task rewrites the same row).
INSERT INTO deployments AS d (
    deployment_id, run_id, stage, package_arn, package_version, endpoint_name,
    endpoint_config_name, previous_config_name, model_name, approver, started_at,
    finished_at, outcome, reason, smoke_samples, smoke_accuracy, smoke_errors,
    latency_p50_ms, latency_p95_ms, traffic_routing, updated_at
)
SELECT
    r.deployment_id, r.run_id, r.stage, r.package_arn, r.package_version, r.endpoint_name,
    r.endpoint_config_name, r.previous_config_name, r.model_name, r.approver,
    COALESCE(r.started_at, now()), r.finished_at, r.outcome, r.reason, r.smoke_samples,
    r.smoke_accuracy, r.smoke_errors, r.latency_p50_ms, r.latency_p95_ms, r.traffic_routing, now()
FROM jsonb_to_record(%(record)s::jsonb) AS r (
    deployment_id text, run_id text, stage text, package_arn text, package_version integer,
    endpoint_name text, endpoint_config_name text, previous_config_name text, model_name text,
    approver text, started_at timestamptz, finished_at timestamptz, outcome text, reason text,
    smoke_samples integer, smoke_accuracy double precision, smoke_errors integer,
    latency_p50_ms double precision, latency_p95_ms double precision, traffic_routing text
)
ON CONFLICT (deployment_id) DO UPDATE SET
    package_arn          = EXCLUDED.package_arn,
    package_version      = EXCLUDED.package_version,
    endpoint_name        = COALESCE(EXCLUDED.endpoint_name, d.endpoint_name),
    endpoint_config_name = COALESCE(EXCLUDED.endpoint_config_name, d.endpoint_config_name),
    previous_config_name = COALESCE(EXCLUDED.previous_config_name, d.previous_config_name),
    model_name           = COALESCE(EXCLUDED.model_name, d.model_name),
    approver             = COALESCE(EXCLUDED.approver, d.approver),
    finished_at          = EXCLUDED.finished_at,
    outcome              = EXCLUDED.outcome,
    reason               = EXCLUDED.reason,
    smoke_samples        = COALESCE(EXCLUDED.smoke_samples, d.smoke_samples),
    smoke_accuracy       = COALESCE(EXCLUDED.smoke_accuracy, d.smoke_accuracy),
    smoke_errors         = COALESCE(EXCLUDED.smoke_errors, d.smoke_errors),
    latency_p50_ms       = COALESCE(EXCLUDED.latency_p50_ms, d.latency_p50_ms),
    latency_p95_ms       = COALESCE(EXCLUDED.latency_p95_ms, d.latency_p95_ms),
    traffic_routing      = COALESCE(EXCLUDED.traffic_routing, d.traffic_routing),
    updated_at           = now()
RETURNING deployment_id
