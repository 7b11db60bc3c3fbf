"""image_mlops.training.image_uris against the SageMaker SDK it copies: every version, scope
and region of the copied configs, on a CPU and a GPU instance, give the SDK's URI."""

from __future__ import annotations

import json

import pytest

from image_mlops.training import image_uris

# sagemaker-core cannot be installed beside MWAA's package sets (it requires
# importlib-metadata<7, MWAA has 8.x): the comparison runs where the development lock is.
sdk = pytest.importorskip(
    "sagemaker.core.image_uris",
    reason="sagemaker-core is not installable in MWAA's package sets (importlib-metadata<7)",
)

INSTANCES = ("ml.m5.large", "ml.g5.xlarge")


@pytest.fixture(autouse=True, scope="module")
def sdk_reads_each_file_once():
    """The SDK parses a framework's JSON (250 KB for TensorFlow) and botocore's endpoints.json
    on every call; the comparisons read each once. Their results are constant."""
    import functools

    from sagemaker.core import common_utils

    originals = (sdk.config_for_framework, common_utils._botocore_resolver)
    sdk.config_for_framework = functools.cache(originals[0])
    common_utils._botocore_resolver = functools.cache(originals[1])
    yield
    sdk.config_for_framework, common_utils._botocore_resolver = originals


def cases():
    for framework in image_uris.FRAMEWORKS:
        document = json.loads((image_uris.CONFIG_DIR / f"{framework}.json").read_text())
        for scope in image_uris.SCOPES:
            config = document if "scope" in document else document.get(scope)
            if config is None:
                continue
            for version, version_config in config["versions"].items():
                nested = "repository" not in version_config
                pythons = list(version_config) if nested else version_config.get("py_versions")
                for py_version in pythons or [None]:
                    registries = (version_config[py_version] if nested else version_config)[
                        "registries"
                    ]
                    yield framework, scope, version, py_version, sorted(registries)


CASES = list(cases())


def test_the_copied_configs_are_the_sdks():
    """The files are the SDK's own, byte for byte (the version the development lock pins)."""
    from importlib.resources import files

    for framework in image_uris.FRAMEWORKS:
        sdk_file = files("sagemaker.core") / "image_uri_config" / f"{framework}.json"
        ours = image_uris.CONFIG_DIR / f"{framework}.json"
        assert ours.read_bytes() == sdk_file.read_bytes(), framework


@pytest.mark.parametrize(
    ("framework", "scope", "version", "py_version", "regions"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CASES],
)
def test_every_published_image_is_the_sdks(framework, scope, version, py_version, regions):
    for region in regions:
        for instance in INSTANCES:
            try:
                expected = sdk.retrieve(
                    framework,
                    region,
                    version=version,
                    py_version=py_version,
                    instance_type=instance,
                    image_scope=scope,
                )
            except ValueError:
                with pytest.raises(image_uris.ImageUriError):
                    image_uris.retrieve(framework, region, version, instance, scope, py_version)
                continue
            got = image_uris.retrieve(framework, region, version, instance, scope, py_version)
            assert got == expected, (region, instance)


def test_the_default_image_and_the_special_cases():
    uri = image_uris.retrieve("sklearn", "us-east-1", "1.4-2-py312", "ml.m5.large")
    assert (
        uri
        == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )
    with pytest.raises(image_uris.ImageUriError, match="IMAGE_MLOPS_TRAINING_IMAGE_URI"):
        image_uris.retrieve("sklearn", "us-east-1", "1.0-1", "ml.c6g.large", "inference")
    with pytest.raises(image_uris.ImageUriError, match="IMAGE_MLOPS_TRAINING_IMAGE_URI"):
        image_uris.retrieve("xgboost", "us-east-1", "1.7-1", "ml.m5.large")
    with pytest.raises(image_uris.ImageUriError, match="sklearn version"):
        image_uris.retrieve("sklearn", "us-east-1", "9.9-9", "ml.m5.large")
