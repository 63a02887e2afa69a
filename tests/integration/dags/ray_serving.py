"""RayService DAGs run by ``tests/integration/airflow/test_rayservice_dags.py`` on the local KubeRay.

``rayservice_deploy`` deploys (or upgrades) one Serve application and sends it a request through
the API server's service proxy; its params choose the model URI, the image (a new image rolls out
as a new cluster) and the scripted Serve outcome. ``rayservice_teardown`` deletes the service.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, task
from dag_common import CLUSTER, SCRIPTED, _dag, _record_failure

from airflow_ray_k8s.operators.rayservice import RayServiceDeleteOperator, RayServiceDeployOperator
from airflow_ray_k8s.sensors.rayservice import RayServiceSensor

SERVICE_SPEC: dict[str, Any] = {
    "rayClusterConfig": CLUSTER,
    # The replaced cluster goes one second after the switch (KubeRay's default: 60 s).
    "rayClusterDeletionDelaySeconds": 1,
}
PARAMS = {
    "service": Param("churn-model", type="string"),
    "model_uri": Param("file:///models/v1", type="string"),
    "image": Param("", type="string"),
    "outcome": Param("RUNNING", type="string"),
}


def serve_config(model_uri: str) -> dict[str, Any]:
    """One Serve application at ``/model`` whose ``args`` carry the model to load."""
    return {
        "applications": [
            {
                "name": "model",
                "import_path": "serve_app:app",
                "route_prefix": "/model",
                "args": {"model_uri": model_uri},
            }
        ]
    }


with _dag("rayservice_deploy", params=PARAMS, on_failure_callback=_record_failure) as rayservice_deploy:
    deploy = RayServiceDeployOperator(
        task_id="deploy",
        service_name="{{ params.service }}",
        ray_service_spec=SERVICE_SPEC,
        serve_config=serve_config("{{ params.model_uri }}"),
        image="{{ params.image }}",
        service_annotations={SCRIPTED + "serve-outcome": "{{ params.outcome }}"},
        deploy_timeout=8,
        deferrable=True,
        on_failure_callback=_record_failure,
    )

    @task
    def smoke(deployed: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request to the served model through the API server's proxy; it must answer with the
        model this run deployed."""
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        answer = KubeRayHook().service_request(
            f"{deployed['name']}-serve-svc", "serve", "/model", body={"features": [1, 2, 3]}
        )
        assert params is not None
        if answer["args"]["model_uri"] != params["model_uri"]:
            raise ValueError(f"the model answered with {answer['args']}, not {params['model_uri']}")
        return dict(answer)

    check = RayServiceSensor(
        task_id="healthy", service_name="{{ params.service }}", deferrable=True, timeout=30
    )
    smoke(deploy.output) >> check

with _dag(
    "rayservice_teardown", params={"service": Param("churn-model", type="string")}
) as rayservice_teardown:
    RayServiceDeleteOperator(task_id="delete", service_name="{{ params.service }}", deferrable=True)
