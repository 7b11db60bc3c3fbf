# syntax=docker/dockerfile:1
# image-mlops on the official Airflow image: one image for every Airflow component and for the
# local AWS emulator (docker-compose.yaml). Build: `docker compose build`.
FROM apache/airflow:3.3.2-python3.11

# The emulator's journal lives on a named volume mounted here; a named volume takes the
# ownership of the image's folder, so the airflow user can write it.
USER root
RUN mkdir -p /state /opt/airflow/state \
    && chown -R airflow:0 /state /opt/airflow/state \
    && chmod -R g+rwX /state /opt/airflow/state

# The official image installs Python packages as the airflow user (never as root).
USER airflow
WORKDIR /opt/airflow

# Pinned dependencies first (a layer that changes only with the pins). constraints.txt pins
# the full transitive set, apache-airflow==3.3.2 included, so the image's Airflow is kept.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt

# The project itself: the image_mlops package lives in plugins/, installed editable so that
# image_mlops finds dags/ and include/ beside it (PROJECT_ROOT = /opt/airflow) and so that a
# bind-mounted ./plugins (docker-compose.yaml) is what runs.
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

ENV IMAGE_MLOPS_STATE_DIR=/opt/airflow/state
USER airflow
