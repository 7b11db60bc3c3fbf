UPDATE label_events
SET status = %(status)s, detail = %(detail)s, labeled_key = %(labeled_key)s,
    image_sha256 = COALESCE(%(image_sha256)s, image_sha256)
WHERE id = %(id)s;
