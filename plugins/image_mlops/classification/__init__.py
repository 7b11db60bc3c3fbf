"""Stage 5: classify validated incoming images with the production model, one folder per class.

Modules, one job each:

* :mod:`.endpoint`   — the production model and the runtime that invokes it (deployment room);
* :mod:`.pending`    — validated incoming images the production model version has not classified;
* :mod:`.batches`    — batch manifests, per-batch results and the run manifest on S3;
* :mod:`.classify`   — classify one batch end to end (read, stats, predict, place, record);
* :mod:`.placement`  — copy into ``predictions/<class>/`` or ``_uncertain/``; moves;
* :mod:`.records`    — the ``predictions`` table;
* :mod:`.transform`  — the SageMaker Batch Transform route (AWS, large runs).
"""
