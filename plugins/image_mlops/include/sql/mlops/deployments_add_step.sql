-- Append one step of an endpoint update to its deployment record, once: a step observed
-- again (a sensor's next poke, a retried task) is not added twice.
UPDATE deployments
SET steps = steps || jsonb_build_array(%(step)s::jsonb), updated_at = now()
WHERE deployment_id = %(deployment_id)s
  AND NOT steps @> jsonb_build_array(%(step)s::jsonb)
RETURNING deployment_id
