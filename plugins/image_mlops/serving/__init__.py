"""Serving: invoke an endpoint (SageMaker, or in process locally) and serve an artifact over HTTP.

``runtime.get_runtime().invoke(endpoint, body, content_type)`` is the one way the pipeline
calls a model; the local/aws difference lives only in :mod:`image_mlops.serving.runtime`.
"""
