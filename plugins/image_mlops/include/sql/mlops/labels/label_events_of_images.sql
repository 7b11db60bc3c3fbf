-- Every earlier decided label of these images: a new label is weighed against them.
SELECT id, source, source_ref, row_ref, image_key, label, actor, labelled_at, recorded_at,
       image_sha256
FROM label_events
WHERE image_sha256 = ANY(%(shas)s) AND status IN ('labeled', 'already_labeled', 'superseded')
ORDER BY id;
