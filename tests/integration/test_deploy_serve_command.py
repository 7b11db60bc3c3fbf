"""``image-mlops serve --endpoint`` serves the endpoint's model over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT
from sample_model import (
    PRIMARY_CENTROIDS,
    colour_image,
    publish_sample_package,
    upload_sample_images,
)

from image_mlops.deployment import endpoints, flow
from image_mlops_dev.stack.processes import free_port

pytestmark = pytest.mark.stack


def test_serve_endpoint_over_http(settings, tmp_path):
    upload_sample_images(settings, per_class=2)
    arn = publish_sample_package(settings, "serve", status="Approved", workdir=tmp_path)
    flow.deploy(settings, "staging", arn, "t-serve")
    # the DAG waits with its sensor
    endpoints.wait_in_service(settings, settings.endpoint_name("staging"), poll=0.3)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "image_mlops.cli",
            "serve",
            "--endpoint",
            settings.endpoint_name("staging"),
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("serve did not answer /ping")
        request = urllib.request.Request(
            url + "/invocations",
            data=colour_image(PRIMARY_CENTROIDS["red"], "JPEG"),
            method="POST",
            headers={"Content-Type": "image/jpeg"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            [prediction] = json.loads(response.read())["predictions"]
        assert prediction["label"] == "red" and prediction["error"] is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
