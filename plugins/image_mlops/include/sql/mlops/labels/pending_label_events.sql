SELECT id, source, source_ref, row_ref, image_key, label, actor, labelled_at, recorded_at,
       image_sha256
FROM label_events
WHERE status = 'pending'
ORDER BY id;
