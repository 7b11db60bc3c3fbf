"""Airflow plugin entry: the image-mlops KPI and Review pages (FastAPI app + navigation).

Airflow scans only this file in plugins/ (plugins/.airflowignore hides the package); the
page itself lives in ``image_mlops.ui``. The api-server mounts it at ``/image-mlops``; the
nav entries "Model KPIs" and "Review images" show them inside the Airflow UI.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from image_mlops.ui.app import app

URL_PREFIX = "/image-mlops"


class ImageMlopsUiPlugin(AirflowPlugin):
    name = "image_mlops_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Image MLOps KPIs"}]
    external_views = [
        {
            "name": "Model KPIs",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "image-mlops-kpis",
        },
        {
            "name": "Review images",
            "href": f"{URL_PREFIX}/review",
            "destination": "nav",
            "category": "browse",
            "url_route": "image-mlops-review",
        },
    ]
