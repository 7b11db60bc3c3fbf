"""The learning loop: feedback files and human review decisions become labelled training data.

* :mod:`.events` — the ``label_events`` table: one row per label given, with who and when;
* :mod:`.feedback` — ``s3://RAW/feedback/*.csv`` rows → label events (every row accounted for);
* :mod:`.review` — what the review page shows and the decisions it posts;
* :mod:`.ingest` — label events → ``s3://VALIDATED/labeled/<class>/<name>`` (copy, verified,
  deduplicated by content, never over a different image), conflicts settled and recorded.
"""
