"""`make demo`: the whole lifecycle on the local stack, driven through Airflow's REST API."""
