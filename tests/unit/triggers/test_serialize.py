"""Exact ``serialize()`` round trips: what a triggerer stores is exactly what rebuilds the trigger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string
from airflow.sdk.serde import deserialize, serialize

from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger
from airflow_ray_k8s.triggers.rayjob import RayJobTrigger
from airflow_ray_k8s.triggers.rayservice import RayServiceTrigger

RAYJOB_KWARGS: dict[str, Any] = {
    "name": "etl-train-abc-t2",
    "namespace": "ray",
    "kuberay_conn_id": "kuberay_prod",
    "try_number": 2,
    "get_logs": True,
    "log_offset": 1234,
    "log_interval": 2.5,
    "startup_deadline": 1_800_000_000.5,
    "tail_lines": 30,
    "delete_on_kill": True,
    "wait_for_creation": True,
    "collect_results": True,
    "startup_timeout": 45.0,
}

RAYCLUSTER_KWARGS: dict[str, Any] = {
    "name": "shared",
    "namespace": "ray",
    "kuberay_conn_id": "kuberay_default",
    "wait_for": "condition",
    "condition_type": "HeadPodReady",
    "deadline": None,
    "delete_on_kill": False,
    "startup_timeout": 30.0,
}

RAYSERVICE_KWARGS: dict[str, Any] = {
    "name": "churn-model",
    "namespace": "ml",
    "kuberay_conn_id": "kuberay_default",
    "wait_for": "deployed",
    "generation": 4,
    "applications": ["model"],
    "deadline": 1_800_000_000.0,
}


@pytest.mark.parametrize(
    ("cls", "kwargs", "path"),
    [
        (RayJobTrigger, RAYJOB_KWARGS, "airflow_ray_k8s.triggers.rayjob.RayJobTrigger"),
        (RayClusterTrigger, RAYCLUSTER_KWARGS, "airflow_ray_k8s.triggers.raycluster.RayClusterTrigger"),
        (RayServiceTrigger, RAYSERVICE_KWARGS, "airflow_ray_k8s.triggers.rayservice.RayServiceTrigger"),
    ],
)
def test_serialize_is_exact_and_round_trips(cls: type[Any], kwargs: dict[str, Any], path: str) -> None:
    trigger = cls(**kwargs)
    classpath, stored = trigger.serialize()
    assert classpath == path
    assert stored == kwargs
    # Small and JSON-plain: no objects, no secrets, nothing that needs Airflow's serde extensions.
    assert json.loads(json.dumps(stored)) == stored
    # Through Airflow's own encoding, as the triggerer stores it.
    rebuilt = import_string(classpath)(**deserialize(serialize(stored)))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_rayjob_defaults_serialize_completely() -> None:
    _, stored = RayJobTrigger(name="j", namespace="ray").serialize()
    assert set(stored) == set(RAYJOB_KWARGS)
    assert stored["delete_on_kill"] is False  # a sensor's wait never deletes what it watches
    assert stored["wait_for_creation"] is False  # an operator's own RayJob gone is an error
    assert stored["collect_results"] is False  # only the operators read and keep published results


def test_raycluster_trigger_rejects_a_condition_wait_without_type() -> None:
    with pytest.raises(ValueError, match="condition_type"):
        RayClusterTrigger(name="c", namespace="ray", wait_for="condition")
    with pytest.raises(ValueError, match="wait_for"):
        RayClusterTrigger(name="c", namespace="ray", wait_for="gone")


def test_rayservice_trigger_rejects_an_unknown_wait() -> None:
    with pytest.raises(ValueError, match="wait_for"):
        RayServiceTrigger(name="s", namespace="ml", wait_for="ready")
