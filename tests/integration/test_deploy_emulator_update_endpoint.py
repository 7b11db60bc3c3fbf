"""The emulator's UpdateEndpoint behaves like AWS: switch, or roll back on a firing alarm."""

from __future__ import annotations

import pytest

from image_mlops.deployment import endpoints

pytestmark = pytest.mark.stack


def _config(aws, name, model):
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )


def test_update_switches_config_or_rolls_back_on_alarm(aws, settings):
    aws.sagemaker.create_model(
        ModelName="ext-model",
        ExecutionRoleArn=settings.sagemaker_role_arn,
        PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"},
    )
    for name in ("ext-a", "ext-b", "ext-c"):
        _config(aws, name, "ext-model")
    aws.sagemaker.create_endpoint(EndpointName="ext-endpoint", EndpointConfigName="ext-a")
    alarms = endpoints.ensure_rollback_alarms("ext-endpoint", settings)

    # no alarm firing: the update takes effect
    aws.sagemaker.update_endpoint(
        EndpointName="ext-endpoint",
        EndpointConfigName="ext-b",
        DeploymentConfig=endpoints.deployment_config(alarms),
    )
    endpoint = aws.sagemaker.describe_endpoint(EndpointName="ext-endpoint")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "ext-b")
    endpoints.verify_serving("ext-endpoint", "ext-b", settings)

    # an alarm in ALARM: rolled back, still InService, old config, FailureReason set
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="test")
    aws.sagemaker.update_endpoint(
        EndpointName="ext-endpoint",
        EndpointConfigName="ext-c",
        DeploymentConfig=endpoints.deployment_config(alarms),
    )
    endpoint = aws.sagemaker.describe_endpoint(EndpointName="ext-endpoint")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "ext-b")
    assert alarms[0] in endpoint["FailureReason"]
    with pytest.raises(endpoints.DeploymentError, match="serves ext-b, not ext-c"):
        endpoints.verify_serving("ext-endpoint", "ext-c", settings)

    # unknown config: a ValidationException, endpoint unchanged
    with pytest.raises(aws.sagemaker.exceptions.ClientError, match="Could not find"):
        aws.sagemaker.update_endpoint(EndpointName="ext-endpoint", EndpointConfigName="nope")
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="OK", StateReason="test")
