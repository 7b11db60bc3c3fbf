"""The container image of a SageMaker framework, as AWS's SageMaker Python SDK names it.

AWS publishes where its framework images live (account per region, repository, tag) in the
SDK's ``image_uri_config/<framework>.json``. The package cannot depend on the SDK: every
``sagemaker`` and ``sagemaker-core`` release requires ``importlib-metadata<7``, and MWAA's
images have 8.x installed (constraints/mwaa-3.3.1.txt), so pip refuses the SDK on MWAA.

So the data is copied, unchanged, and :func:`retrieve` follows the SDK's rules for the
standard framework images (``sagemaker.core.image_uris.retrieve`` with a framework, version,
region, scope, instance type and Python version):

* source: PyPI ``sagemaker-core`` 2.27.0 (github.com/aws/sagemaker-python-sdk, the v3 line),
  ``sagemaker/core/image_uri_config/{sklearn,pytorch,tensorflow}.json`` and
  ``sagemaker/core/image_uris.py``, copied 2026-12-07 into ``image_mlops/include/image_uris/``;
* tests/unit/test_image_uris.py compares every version, scope and region of those files, on a
  CPU and a GPU instance, with the SDK itself (a development dependency).

What the SDK special-cases is refused here with a message naming the setting to use instead
(your own image URI): Graviton, Inferentia and Trainium instances, Elastic Inference, and the
Hugging Face, Neuron and training-compiler images.
"""

from __future__ import annotations

import json
import re
from functools import cache

from image_mlops.config import INCLUDE_DIR

CONFIG_DIR = INCLUDE_DIR / "image_uris"
FRAMEWORKS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
SCOPES = ("training", "inference")
_FAMILY = re.compile(r"^ml[\._]([a-z\d\-]+)\.?\w*$")
#: Graviton families (a digit then ``g``: c6g, m7g, r6gd, c6gn), which the SDK maps to arm64
#: images; Inferentia and Trainium, to Neuron images.
_SPECIAL_FAMILY = re.compile(r"^([a-z]+\d+g[a-z]*|inf\d*|trn\d*)$")


class ImageUriError(ValueError):
    """No published image for these arguments; the message says which and what to do."""


@cache
def framework_config(framework: str) -> dict:
    if framework not in FRAMEWORKS:
        raise ImageUriError(
            f"no image URIs for framework {framework!r} (known: {', '.join(FRAMEWORKS)}): set "
            "IMAGE_MLOPS_TRAINING_IMAGE_URI and IMAGE_MLOPS_INFERENCE_IMAGE_URI to your images"
        )
    return json.loads((CONFIG_DIR / f"{framework}.json").read_text())


def instance_family(instance_type: str) -> str:
    match = _FAMILY.match(instance_type or "")
    return match[1] if match else ""


def _one_of(value, options, what: str):
    if value not in options:
        raise ImageUriError(f"unsupported {what} {value!r}: one of {', '.join(map(str, options))}")
    return value


def _processor(instance_type: str, available: list[str] | None) -> str | None:
    if not available:
        return None
    family = instance_family(instance_type)
    if not family:
        raise ImageUriError(f"not a SageMaker instance type: {instance_type!r}")
    if family in available:
        return family
    return _one_of("gpu" if family[0] in ("g", "p") else "cpu", available, "processor")


@cache
def _ecr_hostname(region: str) -> str:
    """ECR's host name in ``region`` from botocore's endpoint data, as the SDK takes it (its
    partition's domain: amazonaws.com, amazonaws.com.cn, c2s.ic.gov, ...)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    endpoint = EndpointResolver(create_loader().load_data("endpoints")).construct_endpoint(
        "ecr", region
    )
    return endpoint["hostname"] if endpoint else f"ecr.{region}.amazonaws.com"


def retrieve(
    framework: str,
    region: str,
    version: str,
    instance_type: str,
    image_scope: str = "training",
    py_version: str | None = None,
) -> str:
    """The ECR URI of ``framework``'s ``version`` image for ``image_scope`` in ``region``."""
    _one_of(image_scope, SCOPES, "image scope")
    family = instance_family(instance_type)
    if _SPECIAL_FAMILY.match(family):
        raise ImageUriError(
            f"{instance_type} runs Graviton, Inferentia or Trainium images, which this package "
            "does not look up: set IMAGE_MLOPS_TRAINING_IMAGE_URI / _INFERENCE_IMAGE_URI"
        )
    document = framework_config(framework)
    config = document if "scope" in document else document.get(image_scope)
    if config is None:
        raise ImageUriError(f"{framework} has no {image_scope} images")
    versions = list(config["versions"])
    aliases = config.get("version_aliases", {})
    if len(versions) == 1 and version not in aliases:
        version = versions[0]
    _one_of(version, versions + list(aliases), f"{framework} version")
    version_config = config["versions"][aliases.get(version, version)]

    py_versions = (
        version_config.get("py_versions")
        if "repository" in version_config
        else list(version_config)
    )
    if not py_versions:
        py_version = None
    elif py_version is None and len(py_versions) == 1:
        py_version = py_versions[0]
    else:
        _one_of(py_version, py_versions, "Python version")
    version_config = version_config.get(py_version) or version_config

    registry = _one_of(region, list(version_config["registries"]), "region")
    account = version_config["registries"][registry]
    processor = _processor(
        instance_type, config.get("processors") or version_config.get("processors")
    )
    container_version = (version_config.get("container_version") or {}).get(processor)
    if not version_config.get("processor_in_tag", True):
        processor = None
    tag_prefix = version_config.get("tag_prefix", version)
    tag = "-".join(x for x in (tag_prefix, processor, py_version, container_version) if x)
    repository = version_config["repository"] + (f":{tag}" if tag else "")
    return f"{account}.dkr.{_ecr_hostname(region)}/{repository}"
