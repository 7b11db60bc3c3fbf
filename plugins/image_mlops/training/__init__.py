"""Stages 2-3: dataset snapshot, training (a SageMaker job), evaluation, quality gate.

Modules: :mod:`.dataset` (snapshot, manifest, split, fingerprint), :mod:`.artifact`
(model.tar.gz packing and the script runner), :mod:`.job` (the SageMaker training job's
request and artifact, the same on both targets), :mod:`.gate` (quality gate and the
production model's artifact), :mod:`.baseline` (input statistics for monitoring),
:mod:`.steps` (what the DAG tasks call).
"""
