"""Serving: invoke an endpoint (``InvokeEndpoint``, on both targets) and serve an artifact
over HTTP with the SageMaker container contract.

``runtime.get_runtime().invoke(endpoint, body, content_type)`` is the one way the pipeline
calls a model.
"""
