"""Lifecycle conformance: a RayCluster and RayJobs driven the same way on both backends (real Ray
in both), compared by the status fields and conditions over time, the events, the watch event
sequence and the deletion timing a client sees. Each check runs its two backends in parallel."""

from __future__ import annotations

import itertools
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_ray_k8s._lifecycle.jobs import parse_time
from tests.conformance.conftest import Backend, Observations
from tests.conformance.watching import Recorder, distinct

pytestmark = [pytest.mark.conformance, pytest.mark.realkube, pytest.mark.ray, pytest.mark.timeout(600)]

NS = "default"
RAYJOBS = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"
RAYCLUSTERS = f"/apis/ray.io/v1/namespaces/{NS}/rayclusters"
IMAGE = "rayproject/ray:2.52.0"


def _cluster_spec() -> dict[str, Any]:
    head = {"name": "ray-head", "image": IMAGE, "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}
    return {
        "rayVersion": "2.52.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}},
    }


def parallel(backends: dict[str, Backend], observe: Any) -> dict[str, Any]:
    """``observe(backend)`` on both backends at once."""
    with ThreadPoolExecutor(len(backends)) as pool:
        futures = {name: pool.submit(observe, backend) for name, backend in backends.items()}
        return {name: future.result() for name, future in futures.items()}


def _happened(seconds: float) -> bool:
    return seconds != float("inf")


def compare(observations: Observations, check: str, seen: dict[str, dict[str, Any]]) -> None:
    """Timings (``*_s``) are recorded for the report, compared only as "it happened"; every other
    field must agree (or be a known difference)."""
    timings = {name: {k: v for k, v in obs.items() if k.endswith("_s")} for name, obs in seen.items()}
    observations.record(f"{check}.timings", timings)
    fields = {
        name: {
            **{k: v for k, v in obs.items() if not k.endswith("_s")},
            **{f"{k[:-2]}_happened": _happened(v) for k, v in obs.items() if k.endswith("_s")},
        }
        for name, obs in seen.items()
    }
    observations.compare_fields(check, fields)


def _wait_gone(b: Backend, path: str, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if b.request("GET", path).status_code == 404:
            return time.monotonic() - start
        time.sleep(0.25)
    return float("inf")


def _wait_no_pods(b: Backend, cluster: str, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pods = b.request(
            "GET", f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": f"ray.io/cluster={cluster}"}
        )
        if not pods.json().get("items"):
            return time.monotonic() - start
        time.sleep(0.5)
    return float("inf")


def _event_reasons(b: Backend, name: str) -> list[str]:
    events = b.request("GET", f"/api/v1/namespaces/{NS}/events").json().get("items") or []
    return sorted({e["reason"] for e in events if (e.get("involvedObject") or {}).get("name") == name})


def _conditions(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((c["type"], c["status"], c.get("reason", "")) for c in status.get("conditions") or [])


def test_a_raycluster_from_create_to_ready_to_deleted(
    backends: dict[str, Backend], observations: Observations
) -> None:
    def observe(b: Backend) -> dict[str, Any]:
        name = f"cf-rc-{secrets.token_hex(3)}"
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": name},
            "spec": _cluster_spec(),
        }
        ready = lambda kind, obj: (obj.get("status") or {}).get("state") == "ready"  # noqa: E731
        rec = Recorder(b, RAYCLUSTERS, name, stop=ready).start()
        created = time.monotonic()
        assert b.request("POST", RAYCLUSTERS, body).status_code == 201
        rec.wait()
        to_ready = time.monotonic() - created
        last = rec.events[-1][2]
        status = last.get("status") or {}
        pods = b.request(
            "GET", f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": f"ray.io/cluster={name}"}
        )
        pod_labels = sorted(
            (p["metadata"]["labels"].get("ray.io/node-type"), p["status"].get("phase"))
            for p in pods.json().get("items") or []
        )
        gone = Recorder(b, RAYCLUSTERS, name).start()
        b.request("DELETE", f"{RAYCLUSTERS}/{name}")
        gone.wait()
        return {
            "watch": distinct([kind for _, kind, _ in rec.events + gone.events if kind != "BOOKMARK"]),
            "states": distinct([(obj.get("status") or {}).get("state", "") for _, _, obj in rec.events]),
            "conditions_at_ready": _conditions(status),
            "status_fields_at_ready": sorted(status),
            "head_fields": sorted(status.get("head") or {}),
            "pods_at_ready": pod_labels,
            "events": _event_reasons(b, name),
            "ready_s": round(to_ready, 1),
            "object_gone_s": round(_wait_gone(b, f"{RAYCLUSTERS}/{name}"), 1),
            "pods_gone_s": round(_wait_no_pods(b, name), 1),
        }

    compare(observations, "raycluster-lifecycle", parallel(backends, observe))


def _rayjob(name: str, entrypoint: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entrypoint": entrypoint,
        "rayClusterSpec": _cluster_spec(),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 2,
    }
    body.update(spec)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": body}


def _finished(kind: str, obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return kind == "DELETED" or status.get("jobDeploymentStatus") in (
        "Complete",
        "Failed",
        "ValidationFailed",
    )


def _hold_then_admit(b: Backend, name: str) -> dict[str, Any]:
    """What Kueue does to a RayJob it created suspended: wait while it is held, then unsuspend it.

    Observes the held job (its status, and that no RayCluster exists for it) and whether the
    ``startTime`` KubeRay writes comes from the admission, which the provider's queued waits rely
    on after a triggerer restart.
    """
    path = f"{RAYJOBS}/{name}"
    start = time.monotonic()
    status: dict[str, Any] = {}
    while time.monotonic() - start < 60:
        status = b.request("GET", path).json().get("status") or {}
        if status.get("jobDeploymentStatus") == "Suspended":
            break
        time.sleep(0.25)
    time.sleep(3)  # long enough for a cluster to appear if KubeRay made one for a held job
    clusters = b.request("GET", RAYCLUSTERS).json().get("items") or []
    admitted_at = time.time()
    patch = b.request(
        "PATCH",
        path,
        {"spec": {"suspend": False}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    return {
        "held": {
            k: status.get(k)
            for k in (
                "jobDeploymentStatus",
                "jobStatus",
                "rayClusterName",
                "jobId",
                "rayClusterStatus",
                "rayJobInfo",
            )
        },
        "held_fields": sorted(status),
        "clusters_while_held": sorted(
            c["metadata"]["name"] for c in clusters if c["metadata"]["name"].startswith(name)
        ),
        "admitted_at": admitted_at,
    }


def _drive_rayjob(
    b: Backend, prefix: str, entrypoint: str, *, held: bool = False, **spec: Any
) -> dict[str, Any]:
    name = f"cf-{prefix}-{secrets.token_hex(3)}"
    rec = Recorder(b, RAYJOBS, name, stop=_finished).start()
    created = time.monotonic()
    answer = b.request(
        "POST", RAYJOBS, _rayjob(name, entrypoint, **({"suspend": True} if held else {}), **spec)
    )
    assert answer.status_code == 201, answer.text
    hold = _hold_then_admit(b, name) if held else {}
    rec.wait()
    finished = time.monotonic()
    statuses = [obj.get("status") or {} for _, kind, obj in rec.events if kind != "BOOKMARK"]
    final = statuses[-1] if statuses else {}
    cluster = final.get("rayClusterName", "")
    # What KubeRay does after the end: the TTL deletes the RayJob (and its cluster) or, when the
    # job never ran, nothing is left to delete but the RayJob itself.
    job_gone = _wait_gone(b, f"{RAYJOBS}/{name}", timeout=90)
    if job_gone == float("inf"):
        b.request("DELETE", f"{RAYJOBS}/{name}")
    cluster_gone = _wait_gone(b, f"{RAYCLUSTERS}/{cluster}", timeout=90) if cluster else 0.0
    job_statuses = distinct([s.get("jobStatus", "") for s in statuses if s.get("jobStatus")])
    order = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"]
    observed: dict[str, Any] = {}
    if hold:
        started = parse_time(final.get("startTime"))
        admitted_at = hold.pop("admitted_at")
        observed = {
            **hold,
            # Kubernetes writes whole seconds: "from the admission" means not before its second.
            "start_time_from_admission": started is not None and started >= int(admitted_at),
        }
    return {
        **observed,
        "deployment_statuses": distinct([s.get("jobDeploymentStatus", "") for s in statuses]),
        # KubeRay samples the dashboard's job status every few seconds: which of PENDING and
        # RUNNING a watch sees is chance; the order and the last one are not.
        "job_status_last": job_statuses[-1] if job_statuses else None,
        "job_statuses_in_order": all(
            order.index(a) < order.index(b) for a, b in itertools.pairwise(job_statuses)
        ),
        "final": {
            k: final.get(k) for k in ("jobDeploymentStatus", "jobStatus", "reason", "failed", "succeeded")
        },
        "final_fields": sorted(final),
        "events": _event_reasons(b, name),
        "finished_s": round(finished - created, 1),
        "rayjob_deleted_by_ttl": job_gone != float("inf"),
        "rayjob_gone_after_end_s": round(job_gone, 1),
        "cluster_gone_after_end_s": round(cluster_gone, 1),
        "message_start": (final.get("message") or "")[:60],
    }


def test_a_rayjob_that_succeeds(backends: dict[str, Backend], observations: Observations) -> None:
    seen = parallel(backends, lambda b: _drive_rayjob(b, "ok", "python -c 'print(1)'"))
    compare(observations, "rayjob-success", seen)


def test_a_rayjob_whose_entrypoint_fails(backends: dict[str, Backend], observations: Observations) -> None:
    seen = parallel(backends, lambda b: _drive_rayjob(b, "fail", "python -c 'import sys; sys.exit(3)'"))
    compare(observations, "rayjob-failure", seen)


def test_a_rayjob_kuberay_rejects(backends: dict[str, Backend], observations: Observations) -> None:
    # ttlSecondsAfterFinished without shutdownAfterJobFinishes: KubeRay's validation rule.
    seen = parallel(
        backends,
        lambda b: _drive_rayjob(b, "invalid", "python -c 'print(1)'", shutdownAfterJobFinishes=False),
    )
    compare(observations, "rayjob-validation-failed", seen)


def test_a_rayjob_created_suspended_runs_once_admitted(
    backends: dict[str, Backend], observations: Observations
) -> None:
    # What Kueue's webhook and admission do to a RayJob on a LocalQueue (the provider's
    # ``queue_name=``): created with spec.suspend true, held without a cluster, then unsuspended.
    seen = parallel(backends, lambda b: _drive_rayjob(b, "held", "python -c 'print(1)'", held=True))
    compare(observations, "rayjob-held-then-admitted", seen)
