"""Gated deployment (stage 4): approval, staging, smoke test, production, rollback, history.

Other rooms use :func:`production_model` to find what production serves::

    from image_mlops.deployment import production_model
    serving = production_model(settings)   # ServingModel | None
"""

from image_mlops.deployment.endpoints import ServingModel, production_model, serving_model

__all__ = ["ServingModel", "production_model", "serving_model"]
