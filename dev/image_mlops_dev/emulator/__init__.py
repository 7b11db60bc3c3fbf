"""The local AWS emulator: moto, extended where AWS behaves otherwise.

Laid out as the library it extends: one package per AWS service it changes (``s3``,
``sagemaker``, ``awslambda``, ``stepfunctions``, ``cloudwatch``, ``cloudformation``,
``applicationautoscaling``), each owning its patches of moto and its WSGI layer; ``http``
holds what every request passes (signature, fault injection, latency, journal) and imports
no service; ``platform`` is what the service layers share (their container processes and
journaled outcomes); ``containers`` runs inside those processes. ``server`` is the one
composition root: it imports everything, and nothing imports it.
"""
