"""``status.desiredCPU/Memory/GPU/TPU`` of the local KubeRay, summed as KubeRay sums them."""

from __future__ import annotations

from airflow_ray_k8s.testing.emulator.raycluster_controller import desired_resources


def _template(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"spec": {"containers": [{"name": "ray", "resources": resources}]}}


def test_head_and_replicas_with_requests_before_limits() -> None:
    spec = {
        "headGroupSpec": {"template": _template(limits={"cpu": "1", "memory": "2Gi"})},
        "workerGroupSpecs": [
            {
                "replicas": 2,
                "template": _template(requests={"cpu": "500m"}, limits={"cpu": "2", "memory": "1Gi"}),
            },
            {
                "replicas": 1,
                "numOfHosts": 2,
                "template": _template(limits={"nvidia.com/gpu": "1", "cpu": "4"}),
            },
            {"replicas": 3, "suspend": True, "template": _template(limits={"cpu": "8"})},
        ],
    }
    assert desired_resources(spec) == {
        "desiredCPU": "10",  # 1 + 2 x 0.5 (requests win) + 2 hosts x 4
        "desiredMemory": "4Gi",
        "desiredGPU": "2",
        "desiredTPU": "0",
    }


def test_a_fractional_cpu_sum_is_in_millicores() -> None:
    spec = {"headGroupSpec": {"template": _template(requests={"cpu": "250m"})}}
    assert desired_resources(spec)["desiredCPU"] == "250m"
    assert desired_resources(spec)["desiredMemory"] == "0"
