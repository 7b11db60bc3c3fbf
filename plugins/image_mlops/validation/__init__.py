"""Stage 1, image validation: checks (one implementation), batching, safe moves, the run.

``checks``, ``mover`` and ``validator`` are standalone (stdlib, Pillow, an S3 client passed in)
so the Step Functions Lambda ships them unchanged; ``batches`` and ``pipeline`` are the
Airflow side (settings, ``s3layout`` keys, CloudWatch).
"""
