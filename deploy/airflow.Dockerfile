# The Airflow image of docker-compose.yaml: the official Airflow image plus this provider, installed
# from the repository (build context: the repository root).
#
#   docker compose build                      # provider only (k3s profile)
#   EXTRAS=local docker compose build         # plus Ray and the local KubeRay emulator (local profile)
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

ARG EXTRAS=""
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow-ray-k8s/
COPY --chown=airflow:0 airflow_ray_k8s /opt/airflow-ray-k8s/airflow_ray_k8s

# Pin apache-airflow to the image's own version so installing the provider never moves Airflow.
# The example Ray programs' ray.data step needs ray[data] where the emulator runs jobs.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/airflow-ray-k8s${EXTRAS:+[${EXTRAS}]}" \
    && if [ -n "${EXTRAS}" ]; then pip install --no-cache-dir "ray[data]"; fi \
    && command -v ray > /tmp/ray-path 2>/dev/null || true

# The emulator starts `ray` from the folder of the running interpreter; the official image installs
# packages as the airflow user (~/.local/bin), so link it there when it is not already.
USER root
RUN if [ -s /tmp/ray-path ]; then \
        target="$(dirname "$(python -c 'import sys; print(sys.executable)')")/ray"; \
        [ -e "$target" ] || ln -s "$(cat /tmp/ray-path)" "$target"; \
    fi; rm -f /tmp/ray-path
USER airflow
