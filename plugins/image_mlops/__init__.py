"""image-mlops: the lifecycle of a product-image classifier as Airflow 3 DAGs on AWS."""

__version__ = "0.1.0"
