"""The artifact loader and the HTTP server, with real archives and real HTTP requests."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import pytest
from sample_model import PRIMARY_CENTROIDS, colour_image, write_artifact

from image_mlops.serving.artifact import ArtifactError, load_archive
from image_mlops.serving.server import ArtifactInvoker, make_server


def test_two_versions_load_side_by_side(tmp_path):
    good = load_archive(write_artifact(tmp_path / "good.tar.gz"), tmp_path / "cache")
    bad = load_archive(write_artifact(tmp_path / "bad.tar.gz", invert=True), tmp_path / "cache")
    assert good.module is not bad.module
    red = colour_image(PRIMARY_CENTROIDS["red"], "JPEG")
    assert json.loads(good.invoke(red, "image/jpeg"))["predictions"][0]["label"] == "red"
    assert json.loads(bad.invoke(red, "image/jpeg"))["predictions"][0]["label"] != "red"


def test_artifact_without_inference_code_is_refused(tmp_path):
    import io
    import tarfile

    path = tmp_path / "m.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ArtifactError, match=r"code/inference\.py"):
        load_archive(path, tmp_path / "cache")


@pytest.fixture
def server(tmp_path):
    invoker = ArtifactInvoker(write_artifact(tmp_path / "m.tar.gz"), tmp_path / "cache")
    srv = make_server(invoker, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _post(url, body, content_type):
    request = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_http_ping_and_invocations(server):
    with urllib.request.urlopen(server + "/ping", timeout=10) as response:
        assert response.status == 200
    status, body = _post(server, colour_image(PRIMARY_CENTROIDS["green"], "PNG"), "image/png")
    assert status == 200
    [prediction] = body["predictions"]
    assert prediction["label"] == "green" and prediction["error"] is None
    assert prediction["top_k"][0]["label"] == "green"
    images = [colour_image(rgb, "JPEG", seed=3) for rgb in PRIMARY_CENTROIDS.values()]
    batch = json.dumps({"instances": [{"b64": base64.b64encode(i).decode()} for i in images]})
    status, body = _post(server, batch.encode(), "application/json")
    assert [p["label"] for p in body["predictions"]] == list(PRIMARY_CENTROIDS)


def test_http_rejects_unsupported_content_type_and_reports_bad_images(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        _post(server, b"a,b", "text/csv")
    assert info.value.code == 415
    status, body = _post(server, b"not an image", "image/jpeg")
    assert status == 200 and body["predictions"][0]["error"].startswith("bad image")
