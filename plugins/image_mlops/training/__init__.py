"""Stages 2-3: dataset snapshot, training (local or SageMaker), evaluation, quality gate.

Modules: :mod:`.dataset` (snapshot, manifest, split, fingerprint), :mod:`.artifact`
(model.tar.gz packing and the script runner), :mod:`.runner` (the one place where local and
AWS training differ), :mod:`.gate` (quality gate and the production model's artifact),
:mod:`.baseline` (input statistics for monitoring), :mod:`.steps` (what the DAG tasks call).
"""
