"""The provider against a real Kubernetes cluster with KubeRay (opt-in: ``--real-cluster``).

The same code paths as on the local KubeRay (connection, client, watch, service proxy to the
dashboard), but with a real API server's schema validation, a real KubeRay operator, real pods and
real image pulls. Small clusters (1 CPU / 2Gi head, no workers); each test deletes what it made
and checks nothing with its DAG's label is left.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_ray_k8s.naming import LABEL_DAG_ID, sanitize_label_value
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB

pytestmark = [pytest.mark.real_cluster, pytest.mark.timeout(1200)]

DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
ENTRYPOINT = "python -c 'print(1)'"


def _small_cluster(image: str | None) -> Any:
    from airflow_ray_k8s.specs import build_raycluster

    return build_raycluster(image=image, head_cpu=1, head_memory="2Gi", workers=[])


def _left(hook: Any, namespace: str, dag_id: str) -> list[str]:
    selector = f"{LABEL_DAG_ID}={sanitize_label_value(dag_id)}"
    return [
        f"{resource.plural}/{obj['metadata']['name']}"
        for resource in (RAYJOB, RAYCLUSTER)
        for obj in hook.list_objects(resource, namespace=namespace, label_selector=selector).items
        if not (obj["metadata"].get("deletionTimestamp"))
    ]


def _assert_nothing_left(hook: Any, namespace: str, dag_id: str, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while (left := _left(hook, namespace, dag_id)) and time.monotonic() < deadline:
        time.sleep(2)
    assert not left, f"left behind in {namespace}: {left}"


def test_connection_sees_kuberay_and_the_permissions_the_provider_needs(hook: Any, real_cluster: Any) -> None:
    report = hook.check_connection(namespace=real_cluster.namespace)
    assert report.ok, report.summary()
    assert "v1" in report.summary()


def test_the_api_server_accepts_what_the_builders_make(hook: Any, real_cluster: Any) -> None:
    """Server-side dry run: the real CRD schema (and its CEL rules) on the builders' manifests."""
    from airflow_ray_k8s.specs import WorkerGroup, build_raycluster, build_rayjob

    clusters = {
        "rc-small": _small_cluster(real_cluster.image),
        "rc-autoscale": build_raycluster(
            image=real_cluster.image,
            autoscaling=True,
            autoscaler_version="v2",
            workers=[WorkerGroup(name="cpu", min_replicas=0, max_replicas=4, cpu=2, memory="4Gi")],
        ),
        "rc-gpu": build_raycluster(
            image=real_cluster.image,
            workers=[WorkerGroup(name="gpu", replicas=1, gpu=1, cpu=4, memory="16Gi")],
            node_selector={"nvidia.com/gpu.present": "true"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
    }
    for name, spec in clusters.items():
        hook.dry_run_create(RAYCLUSTER, spec.to_manifest(name), namespace=real_cluster.namespace)
    job = build_rayjob(ENTRYPOINT, cluster=clusters["rc-small"], ttl_seconds_after_finished=60)
    hook.dry_run_create(RAYJOB, job.to_manifest("rj-dry-run"), namespace=real_cluster.namespace)
    assert hook.get_or_none(RAYJOB, "rj-dry-run", namespace=real_cluster.namespace) is None
    for name in clusters:
        assert hook.get_or_none(RAYCLUSTER, name, namespace=real_cluster.namespace) is None


@pytest.mark.parametrize(
    "dag_name",
    [
        pytest.param("rayjob_dag", id="a RayJob on its own cluster"),
        pytest.param("shared_dag", id="a shared cluster as setup and teardown"),
    ],
)
def test_a_dag_runs_end_to_end_and_leaves_nothing(
    dag_name: str, real_airflow_db: None, hook: Any, real_cluster: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    import real_cluster_dags

    dr = getattr(real_cluster_dags, dag_name).test(logical_date=DAY, run_after=DAY)
    out = capfd.readouterr()
    assert dr.state == "success"
    assert "RESULT sum_of_squares=285" in out.out + out.err, "the driver log reached the task log"
    _assert_nothing_left(hook, real_cluster.namespace, dr.dag_id)
