INSERT INTO label_events (source, source_ref, row_ref, image_key, label, actor, labelled_at,
                          image_sha256)
VALUES (%(source)s, %(source_ref)s, %(row_ref)s, %(image_key)s, %(label)s, %(actor)s,
        %(labelled_at)s, %(image_sha256)s)
ON CONFLICT (source, source_ref, row_ref) DO NOTHING
RETURNING id;
