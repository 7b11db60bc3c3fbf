"""Attacks on the local AWS emulator: it answers only requests signed with the stack's key.

Before, moto answered anyone who reached the port, allowed every origin, and the journal kept
each request's ``Authorization`` header. Each test sends what a stranger or a web page would.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from private_emulator import PrivateEmulator, emulator_command, emulator_environment

from image_mlops.config import get_settings
from image_mlops_dev.stack.identities import BOOTSTRAP_SECRET, LOCAL_ACCESS_KEY_ID, ca_bundle
from image_mlops_dev.stack.processes import free_port
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The artifacts attacked here are placed and read back with the stack's bootstrap key:
    the attacks are a stranger's, the keys of the template's roles are not at stake."""
    return admin


def _client(settings, service: str, key: str | None = None, secret: str | None = None, **config):
    return boto3.client(
        service,
        endpoint_url=get_stack_settings().emulator_url,
        region_name=settings.region,
        verify=str(ca_bundle(settings)),
        aws_access_key_id=key or LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=secret or os.environ[BOOTSTRAP_SECRET],
        config=Config(retries={"max_attempts": 1}, **config),
    )


def _send(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    """Send over TLS, trusting the stack's CA (an attacker on this machine could too)."""
    context = ssl.create_default_context(cafile=str(ca_bundle(get_settings())))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def artifact(aws, settings):
    """A model artifact in the models bucket, as a registered version's would be."""
    key = f"attack-tests/{time.time_ns()}/model.tar.gz"
    aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"the approved artifact")
    return key


def _body(aws, settings, key: str) -> bytes:
    return aws.s3.get_object(Bucket=settings.models_bucket, Key=key)["Body"].read()


def test_an_unsigned_write_cannot_replace_a_model_artifact(aws, settings, artifact):
    url = f"{get_stack_settings().emulator_url}/{settings.models_bucket}/{artifact}"
    status, _, body = _send(
        urllib.request.Request(url, data=b"import os; os.system('evil')", method="PUT")
    )
    assert status == 403
    assert b"MissingAuthenticationToken" in body
    assert _body(aws, settings, artifact) == b"the approved artifact"
    # nor an unsigned read, nor an unsigned call of a JSON API
    assert _send(urllib.request.Request(url))[0] == 403
    status, _, body = _send(
        urllib.request.Request(
            get_stack_settings().emulator_url,
            data=b"{}",
            method="POST",
            headers={
                "X-Amz-Target": "SageMaker.ListEndpoints",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
    )
    assert status == 403 and b"MissingAuthenticationToken" in body


def test_a_cross_origin_request_gets_no_cors_grant(aws, settings, artifact):
    url = f"{get_stack_settings().emulator_url}/{settings.models_bucket}/{artifact}"
    preflight = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    status, headers, _ = _send(preflight)
    assert status == 403
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    # the "simple" request a page may send without a preflight is unsigned: refused
    status, headers, _ = _send(
        urllib.request.Request(
            url,
            data=b"x",
            method="PUT",
            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
    )
    assert status == 403
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    assert _body(aws, settings, artifact) == b"the approved artifact"
    # even a signed answer carries no grant a browser would honour
    signed = aws.s3.get_object(Bucket=settings.models_bucket, Key=artifact)
    headers = signed["ResponseMetadata"]["HTTPHeaders"]
    assert not [h for h in headers if h.startswith("access-control-")]


def test_a_wrong_secret_or_another_key_is_refused(aws, settings, artifact):
    wrong = _client(settings, "s3", secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        wrong.put_object(Bucket=settings.models_bucket, Key=artifact, Body=b"evil")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    other = _client(settings, "sagemaker", key="AKIAOTHERKEY", secret="whatever")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        other.list_endpoints()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # the query APIs answer in their own shape (<ErrorResponse><Error>), as AWS's do ("Common
    # Errors" of the STS, IAM and SNS API references: InvalidClientTokenId, HTTP 403), so
    # botocore reads the code; before, they answered in S3's and botocore read "Unknown"
    for service, call in (
        ("sts", "get_caller_identity"),
        ("iam", "list_roles"),
        ("sns", "list_topics"),
    ):
        stranger = _client(settings, service, key="AKIAOTHERKEY", secret="whatever")
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            getattr(stranger, call)()
        assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId", service
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert _body(aws, settings, artifact) == b"the approved artifact"


def test_a_signed_request_with_a_swapped_body_is_refused(aws, settings, artifact):
    """Replaying a captured signature with other bytes: the body hash no longer matches."""
    url = f"{get_stack_settings().emulator_url}/{settings.models_bucket}/{artifact}"
    original = b"the approved artifact, re-uploaded"
    request = AWSRequest(
        method="PUT",
        url=url,
        data=original,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(original).hexdigest()},
    )
    credentials = Credentials(LOCAL_ACCESS_KEY_ID, os.environ[BOOTSTRAP_SECRET])
    SigV4Auth(credentials, "s3", settings.region).add_auth(request)
    # (urllib's default form content type would make moto read the body as a form)
    headers = {**dict(request.headers.items()), "Content-Type": "application/octet-stream"}
    status, _, body = _send(
        urllib.request.Request(url, data=b"evil bytes", method="PUT", headers=headers)
    )
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body
    assert _body(aws, settings, artifact) == b"the approved artifact"
    # nor can an x-amz-* header ride along unsigned (here: turn the PUT into a copy)
    status, _, body = _send(
        urllib.request.Request(
            url,
            data=original,
            method="PUT",
            headers={**headers, "x-amz-copy-source": f"/{settings.raw_bucket}/anything"},
        )
    )
    assert status == 403 and b"not signed" in body
    assert _body(aws, settings, artifact) == b"the approved artifact"
    # the same signature on its own bytes is accepted: the check is the signature, not luck
    status, _, _ = _send(urllib.request.Request(url, data=original, method="PUT", headers=headers))
    assert status == 200
    assert _body(aws, settings, artifact) == original


def test_presigned_urls_work_until_they_expire(aws, settings, artifact):
    s3v4 = _client(settings, "s3", signature_version="s3v4")
    url = s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": settings.models_bucket, "Key": artifact}, ExpiresIn=60
    )
    assert _send(urllib.request.Request(url))[2] == b"the approved artifact"
    expired = s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": settings.models_bucket, "Key": artifact}, ExpiresIn=1
    )
    time.sleep(2)
    status, _, body = _send(urllib.request.Request(expired))
    assert status == 403 and b"expired" in body
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert _send(urllib.request.Request(forged))[0] == 403
    # Signature Version 2 (botocore's default presigner in us-east-1) is refused with the fix
    v2 = _client(settings, "s3", signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": settings.models_bucket, "Key": artifact}
    )
    status, _, body = _send(urllib.request.Request(v2))
    assert status == 400 and b"s3v4" in body


def test_the_journal_keeps_no_credentials_and_only_its_owner_reads_it(aws, settings, stack):
    key = f"attack-tests/{time.time_ns()}/journaled.bin"
    aws.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=b"journaled")
    journal = stack.journal.read_bytes()
    assert key.encode() in journal
    assert b"HTTP_AUTHORIZATION" not in journal and b"AWS4-HMAC-SHA256 Credential" not in journal
    assert os.environ[BOOTSTRAP_SECRET].encode() not in journal
    assert stat.S_IMODE(stack.journal.stat().st_mode) == 0o600


def test_the_emulator_listens_on_loopback_only(local_stack, settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to try from")
    with socket.socket() as outsider, pytest.raises(OSError):
        outsider.settimeout(3)
        outsider.connect((address, get_stack_settings().emulator_port))


def test_the_emulator_refuses_to_start_without_a_key(tmp_path):
    env = {
        k: v
        for k, v in emulator_environment().items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    proc = subprocess.run(
        emulator_command(free_port(), tmp_path / "journal.bin"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "AWS_SECRET_ACCESS_KEY" in proc.stderr


def test_a_record_torn_in_the_middle_stops_the_start_with_a_clear_message(tmp_path):
    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    try:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket="torn-middle")
        for index in range(3):
            s3.put_object(Bucket="torn-middle", Key=f"k{index}", Body=b"x" * 100)
    finally:
        emulator.crash()
    data = bytearray(emulator.journal.read_bytes())
    second = data.index(b"IMJ1 {", data.index(b"IMJ1 {") + 1)
    data[second + 8 : second + 12] = b"\x00\x00\x00\x00"  # inside the 2nd record's header
    emulator.journal.write_bytes(bytes(data))
    before = emulator.journal.read_bytes()
    proc = subprocess.run(
        emulator_command(free_port(), emulator.journal),
        env=emulator_environment(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode != 0
    assert f"record at byte {second} is damaged" in proc.stderr
    assert "make clean" in proc.stderr
    assert emulator.journal.read_bytes() == before, "the damaged journal must be left as it was"


def test_a_journal_from_before_keeps_its_state_and_loses_its_credentials(tmp_path):
    """Records written with the request's Authorization header (as journals were): the
    start rewrites them without it, and replay still restores the state they describe."""
    from image_mlops_dev.emulator.http.journal import Journal

    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    try:
        emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="legacy")
    finally:
        emulator.crash()
    old = tmp_path / "old.bin"
    legacy = Journal(old)
    for header, body in Journal.read(emulator.journal):
        scope = header.pop("scope")
        header["headers"]["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential=AKIAOLD/{scope['date']}/{scope['region']}/"
            f"{scope['service']}/aws4_request, SignedHeaders=host, Signature=deadbeef"
        )
        legacy.write_record(header, body)
    legacy.close()
    old.replace(emulator.journal)
    emulator.start()
    try:
        groups = emulator.client("sagemaker").list_model_package_groups()
        names = [g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]]
        assert names == ["legacy"]
    finally:
        emulator.stop()
    journal = emulator.journal.read_bytes()
    assert b"HTTP_AUTHORIZATION" not in journal and b"deadbeef" not in journal
