"""The KPI page: a FastAPI app the Airflow api-server mounts at ``/image-mlops``."""
