"""Why a RayCluster does not start: pods and events read into reasons."""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.kube.diagnostics import diagnose_cluster, summarize

from .kube_scripted import Script, ok


def pod(name: str, phase: str = "Pending", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"ray.io/cluster": "rc"}},
        "status": {"phase": phase, **status},
    }


def waiting(reason: str, message: str = "", container: str = "ray-head") -> dict[str, Any]:
    return {"name": container, "state": {"waiting": {"reason": reason, "message": message}}}


IMAGE_PULL = pod(
    "rc-head-x",
    containerStatuses=[waiting("ImagePullBackOff", 'Back-off pulling image "rayproject/ray:nope"')],
)
UNSCHEDULABLE = pod(
    "rc-worker-a",
    conditions=[
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes: Insufficient cpu",
        }
    ],
)
OOM = pod(
    "rc-worker-b",
    "Running",
    containerStatuses=[
        {
            "name": "ray-worker",
            "state": {"running": {}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }
    ],
)
CRASH = pod(
    "rc-worker-c", "Running", containerStatuses=[waiting("CrashLoopBackOff", "back-off 5m", "ray-worker")]
)
HEALTHY = pod("rc-worker-d", "Running", containerStatuses=[{"name": "ray-worker", "state": {"running": {}}}])


def test_pod_status_reasons() -> None:
    diagnosis = summarize("rc", [IMAGE_PULL, UNSCHEDULABLE, OOM, CRASH, HEALTHY])
    assert diagnosis.reasons == ["ImagePullBackOff", "Unschedulable", "OOMKilled", "CrashLoopBackOff"]
    text = diagnosis.summary()
    assert "rc-head-x/ray-head: ImagePullBackOff" in text
    assert "Insufficient cpu" in text
    assert "exit code 137" in text
    assert "rc-worker-d=Running" in text


def test_events_add_reasons_and_unrelated_events_are_ignored() -> None:
    events = [
        {
            "involvedObject": {"kind": "Pod", "name": "rc-head-x"},
            "type": "Warning",
            "reason": "Failed",
            "message": 'Failed to pull image "rayproject/ray:nope": ErrImagePull: not found',
            "lastTimestamp": "2026-01-01T00:00:01Z",
        },
        {
            "involvedObject": {"kind": "Pod", "name": "rc-head-x"},
            "type": "Warning",
            "reason": "FailedScheduling",
            "message": "0/1 nodes are available",
        },
        {
            "involvedObject": {"kind": "Pod", "name": "someone-else"},
            "type": "Warning",
            "reason": "Failed",
            "message": "x",
        },
        {
            "involvedObject": {"kind": "Pod", "name": "rc-head-x"},
            "type": "Normal",
            "reason": "Pulling",
            "message": "x",
        },
        {
            "involvedObject": {"kind": "RayCluster", "name": "rc"},
            "type": "Warning",
            "reason": "FailedCreate",
            "message": "exceeded quota",
        },
    ]
    diagnosis = summarize("rc", [pod("rc-head-x")], events)
    assert set(diagnosis.reasons) == {"ErrImagePull", "Unschedulable", "FailedCreate"}
    assert "someone-else" not in diagnosis.summary()


def test_no_pods_and_healthy_pods() -> None:
    assert summarize("rc", []).summary() == "RayCluster rc: no pods yet"
    assert "no problem reported" in summarize("rc", [HEALTHY]).summary()


def test_duplicates_are_reported_once() -> None:
    diagnosis = summarize(
        "rc",
        [IMAGE_PULL],
        [
            {
                "involvedObject": {"name": "rc-head-x"},
                "reason": "BackOff",
                "message": "Back-off pulling image: ImagePullBackOff",
            }
        ],
    )
    assert [str(p) for p in diagnosis.problems] == [
        'rc-head-x/ray-head: ImagePullBackOff (Back-off pulling image "rayproject/ray:nope")',
        "rc-head-x: ImagePullBackOff (Back-off pulling image: ImagePullBackOff)",
    ]


def test_diagnose_cluster_lists_pods_by_label_and_events(script: Script) -> None:
    def handler(request: Any) -> Any:
        if request.path.endswith("/pods"):
            return ok({"metadata": {}, "items": [IMAGE_PULL]})
        return ok({"metadata": {}, "items": []})

    script.handler = handler
    diagnosis = script.run(diagnose_cluster("ray", "rc"))
    assert diagnosis.reasons == ["ImagePullBackOff"]
    queries = [(r.path, dict(r.query)) for r in script.requests]
    assert queries[0] == (
        "/api/v1/namespaces/ray/pods",
        {"labelSelector": "ray.io/cluster=rc", "limit": "500"},
    )
    assert [q[1].get("fieldSelector") for q in queries[1:]] == [
        "involvedObject.kind=Pod",
        "involvedObject.name=rc",
    ]
