-- Every decision of retrain_on_drift, with its reason (the audit trail of the guards).
CREATE TABLE IF NOT EXISTS retrain_decisions (
    id              bigserial PRIMARY KEY,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    decision        text NOT NULL CHECK (decision IN ('trigger', 'skip', 'wait')),
    reason          text NOT NULL,
    alarms          jsonb NOT NULL DEFAULT '[]'::jsonb,
    trigger_run_id  text,
    dag_run_id      text,
    -- when the drift episode this decision belongs to began: a retraining it triggers is
    -- compared on the held-out labels recorded since then
    drift_since     timestamptz
);
CREATE INDEX IF NOT EXISTS retrain_decisions_trigger_idx
    ON retrain_decisions (decided_at DESC) WHERE decision = 'trigger';

-- 'wait' (waiting for labels) came later: widen the check of a table made before it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conname = 'retrain_decisions_decision_check'
                 AND pg_get_constraintdef(oid) NOT LIKE '%wait%') THEN
        ALTER TABLE retrain_decisions DROP CONSTRAINT retrain_decisions_decision_check;
        ALTER TABLE retrain_decisions ADD CONSTRAINT retrain_decisions_decision_check
            CHECK (decision IN ('trigger', 'skip', 'wait'));
    END IF;
END $$;

-- drift_since came later too: add it to a table made before it.
ALTER TABLE retrain_decisions ADD COLUMN IF NOT EXISTS drift_since timestamptz;
