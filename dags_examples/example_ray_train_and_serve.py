"""Train a model with a RayJob, then serve it with Ray Serve on a RayService, upgraded each run.

``train`` runs ``ray_programs/least_squares.py`` as a RayJob on its own ephemeral cluster: a
least-squares fit of the day's generated data, whose weights the program publishes (the XCom
``results``). ``deploy`` writes the RayService ``linear-model``: a Serve application
(``ray_programs/linear_serve.py``) whose ``args`` carry those weights, templated from the XCom.
``smoke`` sends one request through the API server's service proxy to ``linear-model-serve-svc``
and checks that the answer is what the trained weights predict.

The service outlives the run: the next run trains on the next day's data and ``deploy`` upgrades
the service. The weights' version is also an annotation of the head's pod template, so each model
gets a new cluster (KubeRay's ``NewCluster`` upgrade: the new model starts on a pending cluster,
traffic switches once it serves, the old cluster goes ``rayClusterDeletionDelaySeconds`` later)
and a model that fails to load never touches the cluster serving the previous one. Without that
annotation a new config alone is applied in place by Serve's own rolling update.

``example_ray_serve_retire`` deletes the service (and with it its clusters) when the model is
retired; no run of this DAG deletes it, since serving across runs is the point.

The Serve application's code must be importable on the head: the config's ``runtime_env`` puts
``ray_programs/`` on the application's ``PYTHONPATH`` (the local KubeRay's heads run on this
machine; on a real cluster bake the module into the Ray image or mount it, as
``ray_examples_common`` says). Rendering is native (``render_template_as_native_obj``), so the
weights arrive in the Serve config as a list of numbers, not as text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task
from ray_examples_common import PROGRAMS_ENV, SERVE_SERVICE, cpu_cluster, program

from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.operators.rayservice import RayServiceDeployOperator

#: The smoke request's features.
PROBE = [0.5, -1.5]


def trained(field: str) -> str:
    """A template of one field of the weights ``train`` published (its XCom ``results``)."""
    return "{{ ti.xcom_pull(task_ids='train', key='results')['" + field + "'] }}"


def service_spec() -> dict[str, Any]:
    """The RayService: one small head that serves; a new model version means a new cluster."""
    cluster = cpu_cluster(workers=0)
    cluster["workerGroupSpecs"] = []
    template = cluster["headGroupSpec"]["template"]
    template["metadata"] = {"annotations": {"example.airflow-ray-k8s.io/model-version": trained("version")}}
    return {
        "rayClusterConfig": cluster,
        # Requests already sent to the old cluster finish well within this.
        "rayClusterDeletionDelaySeconds": 10,
    }


SERVE_CONFIG = {
    "applications": [
        {
            "name": "linear",
            "import_path": "{{ params.serve_import_path }}",
            "route_prefix": "/predict",
            "runtime_env": PROGRAMS_ENV,
            "args": {
                "weights": trained("weights"),
                "bias": trained("bias"),
                "version": trained("version"),
            },
            # A tenth of a CPU: the replica idles between requests and the head is small.
            "deployments": [
                {"name": "LinearModel", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}}
            ],
        }
    ]
}

with DAG(
    dag_id="example_ray_train_and_serve",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # one rollout of the service at a time
    params={
        "rows": Param(2000, type="integer", minimum=10),
        # Where Serve finds the application builder (module on the head's PYTHONPATH : callable).
        "serve_import_path": Param("linear_serve:app", type="string"),
    },
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["ray", "example", "serve"],
) as dag:
    train = RayJobOperator(
        task_id="train",
        entrypoint=program("least_squares.py --ds {{ ds }} --rows {{ params.rows }}"),
        ray_cluster_spec=cpu_cluster(workers=1),
        ttl_seconds_after_finished=60,
        deferrable=True,
    )
    deploy = RayServiceDeployOperator(
        task_id="deploy",
        service_name=SERVE_SERVICE,
        ray_service_spec=service_spec(),
        serve_config=SERVE_CONFIG,
        deploy_timeout=300,
        deferrable=True,
        retries=0,  # a model that fails to load fails the run; the previous one keeps serving
    )

    @task
    def smoke(deployed: dict[str, Any], ti: Any = None) -> dict[str, Any]:
        """One request through the API server's proxy; the model must answer ``w . x + b`` with the
        weights ``train`` published."""
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        model = ti.xcom_pull(task_ids="train", key="results")
        answer = KubeRayHook().service_request(
            f"{deployed['name']}-serve-svc", "serve", "/predict", body={"features": PROBE}
        )
        expected = sum(w * x for w, x in zip(model["weights"], PROBE, strict=True)) + model["bias"]
        if answer["version"] != model["version"] or abs(answer["prediction"] - expected) > 1e-9:
            raise ValueError(f"the service answered {answer}, the trained model predicts {expected}")
        return dict(answer)

    train >> deploy
    smoke(deploy.output)
