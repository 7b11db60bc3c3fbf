-- Every decision of retrain_on_drift, with its reason (the audit trail of the guards).
CREATE TABLE IF NOT EXISTS retrain_decisions (
    id              bigserial PRIMARY KEY,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    decision        text NOT NULL CHECK (decision IN ('trigger', 'skip')),
    reason          text NOT NULL,
    alarms          jsonb NOT NULL DEFAULT '[]'::jsonb,
    trigger_run_id  text,
    dag_run_id      text
);
CREATE INDEX IF NOT EXISTS retrain_decisions_trigger_idx
    ON retrain_decisions (decided_at DESC) WHERE decision = 'trigger';
