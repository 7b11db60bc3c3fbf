-- The deployments table of deploy_model (stage 4): one row per run and stage
-- (approval, staging, production). Idempotent: safe to run on every DAG run.
-- Outcomes: in_progress, succeeded, rejected, smoke_failed, rolled_back, failed.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id         text             PRIMARY KEY,  -- '<dag run id>/<stage>'
    run_id                text             NOT NULL,
    stage                 text             NOT NULL,     -- approval | staging | production
    package_arn           text             NOT NULL,
    package_version       integer          NOT NULL,
    endpoint_name         text             NULL,
    endpoint_config_name  text             NULL,
    previous_config_name  text             NULL,
    model_name            text             NULL,
    approver              text             NULL,
    started_at            timestamptz      NOT NULL DEFAULT now(),
    finished_at           timestamptz      NULL,
    outcome               text             NOT NULL,
    reason                text             NULL,
    smoke_samples         integer          NULL,
    smoke_accuracy        double precision NULL,
    smoke_errors          integer          NULL,
    latency_p50_ms        double precision NULL,
    latency_p95_ms        double precision NULL,
    traffic_routing       text             NULL,     -- ALL_AT_ONCE | CANARY | LINEAR
    steps                 jsonb            NOT NULL DEFAULT '[]',  -- what the update did
    updated_at            timestamptz      NOT NULL DEFAULT now()
);

-- Tables made before deployment guardrails get their columns.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS traffic_routing text NULL;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS steps jsonb NOT NULL DEFAULT '[]';

CREATE INDEX IF NOT EXISTS deployments_started_at_idx ON deployments (started_at);
CREATE INDEX IF NOT EXISTS deployments_package_version_idx ON deployments (package_version);
