"""The KPI page through the running Airflow api-server, rendered by headless Chromium.

CI needs Debian's ``chromium`` package (``apt-get install -y chromium``); without it the
browser part is skipped with that message (the HTML checks still run).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
import urllib.request

import pytest
from classify_fixtures import insert_classified
from conftest import wait_for_alarm_evaluation
from sample_model import colour_image

from image_mlops.monitoring import metrics as m
from image_mlops.monitoring.alarms import alarm_definitions, put_alarms
from image_mlops.monitoring.kpis import compute_kpis
from image_mlops.monitoring.publish import metric_data, metrics_hook
from image_mlops_dev.docs_screenshots import CHROMIUM_ARGS
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack

CLASSES = ["book", "bottle", "mug", "shoe"]


def _seed(settings, aws) -> None:
    """Three hourly monitoring passes (mug degrading) + alarms + a production endpoint."""
    hook = metrics_hook(settings)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for step, hours_ago in enumerate((3, 2, 0)):
        rows, labels = [], {}
        for cls in CLASSES:
            for i in range(8):
                key = f"incoming/{step}-{cls}-{i}"
                wrong = cls == "mug" and i < 3 * step  # 0, 3, 6 mugs missed
                rows.append(
                    {
                        "source_key": key,
                        "predicted_class": "bottle" if wrong else cls,
                        "confidence": 0.9,
                        "uncertain": False,
                    }
                )
                labels[key] = cls
        kpis = compute_kpis(rows, labels, CLASSES)
        data = metric_data(
            kpis,
            model=settings.model_name,
            version=3,
            timestamp=now - dt.timedelta(hours=hours_ago, minutes=1),
            classes=CLASSES,
            psi_value=0.02 + 0.1 * step,
            ks_results=[],
            validation_error_rate=None,
        )
        hook.put_metric_data(settings.cloudwatch_namespace, data)
    put_alarms(hook, alarm_definitions(settings, CLASSES))
    wait_for_alarm_evaluation()  # the emulator evaluates them, as CloudWatch does

    from image_mlops.serving.container import ENV_PACKAGE_VERSION

    sm = aws.sagemaker
    name = f"{settings.model_name}-v3"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=settings.sagemaker_role_arn,
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1",
            "ModelDataUrl": f"s3://{settings.models_bucket}/{settings.model_name}/3/model.tar.gz",
            "Environment": {ENV_PACKAGE_VERSION: "3"},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": settings.inference_instance_type,
            }
        ],
    )
    sm.create_endpoint(EndpointName=settings.endpoint_name("production"), EndpointConfigName=name)


#: Classified images of version 3 for the confusion matrix and the gallery: (name, predicted,
#: uncertain, true class in the feedback file or None)
CLASSIFIED = [
    *[(f"book-{i}", "book", False, "book") for i in range(3)],
    *[(f"mug-{i}", "mug", False, "mug") for i in range(2)],
    *[(f"mug-missed-{i}", "bottle", False, "mug") for i in range(2)],
    ("bottle-0", "bottle", False, "bottle"),
    ("unsure-0", "shoe", True, None),
]


def _seed_classified(settings, aws) -> None:
    """Version 3's classified images (in the output bucket and the predictions table) and a
    feedback file labelling most of them."""
    from image_mlops.classification.records import ensure_predictions_table
    from image_mlops.labels.events import pg_hook

    ensure_predictions_table(settings)
    pg_hook(settings).run("DELETE FROM predictions WHERE model_version = 3")
    rows, feedback = [], ["key,label"]
    for n, (name, predicted, uncertain, truth) in enumerate(CLASSIFIED):
        source = f"incoming/ui/{name}.jpg"
        folder = "_uncertain" if uncertain else predicted
        output = f"predictions/{folder}/ui/{name}.jpg"
        aws.s3.put_object(
            Bucket=settings.output_bucket, Key=output, Body=colour_image((40 * n, 90, 160), seed=n)
        )
        rows.append((f"{n:064x}", 3, source, output, predicted, 0.9 - 0.05 * n, uncertain))
        if truth:
            feedback.append(f"{source},{truth}")
    insert_classified(settings, rows)
    aws.s3.put_object(
        Bucket=settings.raw_bucket, Key="feedback/ui.csv", Body="\n".join(feedback).encode()
    )


def _blank(png_path) -> bool:
    from PIL import Image

    with Image.open(png_path) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    return colors is None or len(colors) < 20


def test_kpi_page_in_the_api_server(airflow_services, clean_aws, settings, test_output):
    aws = clean_aws
    _seed(settings, aws)
    _seed_classified(settings, aws)
    # monitor_model's default (model_version=0) follows the production endpoint
    from image_mlops.monitoring.sources import monitored_model

    model = monitored_model(settings)
    assert model.version == 3
    assert model.baseline_uri == (
        f"s3://{settings.models_bucket}/{settings.model_name}/3/baseline.json"
    )
    base = get_stack_settings().airflow_api_url
    url = f"{base}/image-mlops/?hours=6&period=3600"
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200
        html = response.read().decode()
    # real content: classes, values, alarm states, the deployed version, inline SVG charts
    for cls in CLASSES:
        assert f'data-class="{cls}"' in html
    # matplotlib's charts: a legend entry per class, the threshold, time ticks as text
    assert html.count("<svg") == 5
    charts = html.split('<div class="grid">', 1)[1].split("</div>\n</div>", 1)[0]
    assert all(f">{cls}<" in charts for cls in CLASSES) and "alarm threshold" in charts
    assert ":00<" in charts  # an hour tick of the time axis
    # hovering a point names its series, time and value (mug's recall fell to 2/8)
    assert "<title>mug · " in charts and " · 0.25</title>" in charts
    assert 'class="state-ALARM">ALARM' in html  # mug recall 2/8 in the latest pass
    assert m.alarm_name(settings.model_name, "recall-low", "mug") in html
    assert '<td class="version">3</td>' in html
    assert "http://" not in html.replace(base, "").split("<svg", 1)[0].lower().replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # no CDN
    # the confusion matrix of the labelled window: rows true, columns predicted
    assert 'data-true="mug" data-predicted="bottle"\n    style' in html
    for true, predicted, count in (("book", "book", 3), ("mug", "mug", 2), ("mug", "bottle", 2)):
        cell = html.split(f'data-true="{true}" data-predicted="{predicted}"', 1)[1]
        assert cell.split(">", 1)[1].startswith(f"{count}</td>"), (true, predicted)
    # the gallery: one section per class folder and _uncertain, thumbnails through the page
    for folder in ("book", "bottle", "mug", "_uncertain"):
        assert f'data-folder="{folder}"' in html
    thumbnail = html.split('src="gallery/thumbnail?key=', 1)[1].split('"', 1)[0]
    with urllib.request.urlopen(f"{base}/image-mlops/gallery/thumbnail?key={thumbnail}") as r:
        assert r.headers["Content-Type"] == "image/jpeg" and r.read()[:2] == b"\xff\xd8"
    assert f"s3://{settings.output_bucket}" not in html and "amazonaws.com/" not in html
    (test_output / "monitoring_kpi_page.html").write_text(html)
    with urllib.request.urlopen(f"{base}/image-mlops/static/kpis.css", timeout=30) as response:
        assert b".state-ALARM" in response.read()

    # the nav entry is registered with the api-server
    with urllib.request.urlopen(f"{base}/api/v2/plugins", timeout=30) as response:
        plugins = response.read().decode()
    assert "image_mlops_ui" in plugins and "Model KPIs" in plugins

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (CI must install it)")
    png = test_output / "monitoring_kpi_page.png"
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                *CHROMIUM_ARGS,
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                "--window-size=1280,1400",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        dom = subprocess.run(
            [
                browser,
                "--headless",
                *CHROMIUM_ARGS,
                f"--user-data-dir={profile}",
                "--dump-dom",
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert png.exists() and png.stat().st_size > 10_000
    assert not _blank(png)
    # the browser's HTML parser keeps each title on its marker of the inline SVG
    assert re.search(r"<use [^>]*><title>mug · [^<]* · 0\.25</title></use>", dom)
