"""The environment of the model's serving container, whatever creates the model.

* ``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY``: the serving toolkits (the
  scikit-learn image's sagemaker-containers, PyTorch's sagemaker-inference) load the
  handlers from the artifact's own ``code/inference.py``, the SageMaker Python SDK's
  convention for code inside ``model.tar.gz``.
* ``PIP_NO_BUILD_ISOLATION=0``: sagemaker-containers installs that code as a package
  (``pip install .``) when the server starts. With pip 25.3 or newer, as in the
  ``1.4-2-py312`` image, an isolated build first fetches setuptools from PyPI, which a VPC
  without a NAT (or network isolation) cannot reach; without isolation the image's own
  setuptools builds it, offline. (pip reads a ``--no-...`` flag's variable inverted: ``0``
  turns build isolation off.)

The deployment adds :data:`ENV_PACKAGE_ARN` and :data:`ENV_PACKAGE_VERSION` to every model it
creates, so what an endpoint serves is readable from ``DescribeModel``.
"""

from __future__ import annotations

#: The model package a deployed SageMaker model was made from (its ARN, its version number).
ENV_PACKAGE_ARN = "IMAGE_MLOPS_MODEL_PACKAGE_ARN"
ENV_PACKAGE_VERSION = "IMAGE_MLOPS_MODEL_PACKAGE_VERSION"

CONTAINER_ENVIRONMENT: dict[str, str] = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "PIP_NO_BUILD_ISOLATION": "0",
}
