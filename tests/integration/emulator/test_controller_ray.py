"""The emulated KubeRay controller with real Ray heads, driven only through the official
``kubernetes`` client. Real heads are slow (~5-20 s each on a shared 2-core machine), so one
emulator and one shared RayCluster serve the whole module; only the TTL and crash tests start a
cluster of their own. At the end no Ray process started here may survive."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests import polling
from tests.integration.emulator.deletion_timing import GoneClock, assert_deleted_within

pytest.importorskip("ray")

# Real heads on a shared 2-core machine can take minutes when other Ray workloads run beside them.
pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

GROUP, VERSION, NS = "ray.io", "v1", "default"
ANN = "emulator.airflow-ray-k8s.io/"
SQUARES = (
    'python -c "import ray; ray.init(); '
    'print(sum(ray.get([ray.remote(lambda x: x*x).remote(i) for i in range(10)])))"'
)
CLUSTER_SPEC = {
    "rayVersion": "2.60.0",
    "headGroupSpec": {
        "rayStartParams": {"num-cpus": "1"},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
    },
}
HEAD_TIMEOUT = 600.0


def wait_for(check: Callable[[], Any], timeout: float = HEAD_TIMEOUT, what: str = "condition") -> Any:
    return polling.wait_for(check, timeout, what, interval=0.2)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Kube:
    def __init__(self, kr: Any) -> None:
        api_client = config.new_client_from_config(str(kr.write_kubeconfig()))
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def create(
        self,
        plural: str,
        kind: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> None:
        body = {
            "apiVersion": "ray.io/v1",
            "kind": kind,
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def job_status(self, name: str) -> dict[str, Any]:
        return (self.get("rayjobs", name) or {}).get("status") or {}

    def wait_job(self, name: str, *states: str, timeout: float = HEAD_TIMEOUT) -> dict[str, Any]:
        return wait_for(
            lambda: (s := self.job_status(name)).get("jobDeploymentStatus") in states and s,
            timeout,
            f"RayJob {name} in {states}",
        )

    def proxy(self, service: str, path: str, method: str = "GET") -> Any:
        """Call the head's job API through the API server's service proxy."""
        response = self.core.api_client.call_api(
            f"/api/v1/namespaces/{NS}/services/{service}:dashboard/proxy/{path}",
            method,
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        return json.loads(response.data.decode())


@pytest.fixture(scope="module")
def kr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from airflow_ray_k8s.testing.emulator.rayproc import surviving_groups
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

    workdir: Path = tmp_path_factory.mktemp("local-kuberay-ray")
    emulator = LocalKubeRay(
        "ray", workdir=workdir, max_heads=2, job_status_check_timeout=5.0, head_start_timeout=HEAD_TIMEOUT
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert (workdir / "ray-pgids").exists(), "no head was recorded"
    assert surviving_groups(workdir) == [], "a Ray process group survived the emulator's shutdown"


@pytest.fixture(scope="module")
def kube(kr: Any) -> Kube:
    return Kube(kr)


@pytest.fixture(scope="module")
def shared(kube: Kube) -> str:
    kube.create("rayclusters", "RayCluster", "shared", copy.deepcopy(CLUSTER_SPEC))
    wait_for(
        lambda: ((kube.get("rayclusters", "shared") or {}).get("status") or {}).get("state") == "ready",
        what="shared ready",
    )
    return "shared"


def head_pgid(kr: Any, cluster: str) -> int:
    def pgid() -> int:
        head = kr.controller.runtime.head((NS, cluster))
        assert head is not None
        assert head.pgid is not None
        return int(head.pgid)

    return int(kr.call(pgid))


def test_raycluster_ready_with_dashboard_through_the_service_proxy(kube: Kube, shared: str) -> None:
    status = kube.get("rayclusters", shared)["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "HeadPodReady": "True",
        "RayClusterProvisioned": "True",
        "RayClusterSuspended": "False",
        "RayClusterSuspending": "False",
    }
    assert status["head"]["serviceName"] == "shared-head-svc"
    version = kube.proxy("shared-head-svc", "api/version")
    assert version["ray_version"] == "2.60.0"
    pod = kube.core.list_namespaced_pod(
        NS, label_selector="ray.io/cluster=shared,ray.io/node-type=head"
    ).items[0]
    assert pod.status.phase == "Running"


def test_rayjob_with_its_own_cluster_succeeds_and_the_cluster_goes_after_its_ttl(
    kr: Any, kube: Kube, shared: str
) -> None:
    spec = {
        "entrypoint": SQUARES,
        "rayClusterSpec": copy.deepcopy(CLUSTER_SPEC),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 6,
    }
    kube.create("rayjobs", "RayJob", "squares", spec)
    running = kube.wait_job("squares", "Running", "Complete", "Failed")
    cluster = running["rayClusterName"]
    gone = GoneClock(kube.custom, NS, cluster, timeout=120)
    pgid = head_pgid(kr, cluster)
    done = kube.wait_job("squares", "Complete", "Failed")
    assert (done["jobDeploymentStatus"], done["jobStatus"]) == ("Complete", "SUCCEEDED"), done
    logs = kube.proxy(f"{cluster}-head-svc", f"api/jobs/{done['jobId']}/logs")["logs"]
    assert "285" in logs
    assert kube.get("rayclusters", cluster) is not None
    # ttlSecondsAfterFinished counts from endTime: deleted no earlier, and not much later even though
    # a loaded machine may be slow (the bound allows for the controller's pass and the watch event).
    assert_deleted_within(gone.wait(), done["endTime"], ttl=6, bound=3.0)
    wait_for(lambda: not group_alive(pgid), 30, "the head's process group to be gone")
    # The shared cluster's head was not touched.
    assert kube.proxy("shared-head-svc", "api/version")["ray_version"] == "2.60.0"


def test_failing_entrypoint_ends_failed_app_failed(kube: Kube, shared: str) -> None:
    spec = {
        "entrypoint": "python -c \"import sys; print('boom'); sys.exit(3)\"",
        "clusterSelector": {"ray.io/cluster": shared},
    }
    kube.create("rayjobs", "RayJob", "failing", spec)
    done = kube.wait_job("failing", "Complete", "Failed", timeout=120)
    assert (done["jobDeploymentStatus"], done["jobStatus"], done["reason"]) == (
        "Failed",
        "FAILED",
        "AppFailed",
    )
    assert "exit code 3" in done["message"]


def test_active_deadline_ends_deadline_exceeded(kube: Kube, shared: str) -> None:
    spec = {
        "entrypoint": "sleep 60",
        "activeDeadlineSeconds": 3,
        "clusterSelector": {"ray.io/cluster": shared},
    }
    kube.create("rayjobs", "RayJob", "slow", spec)
    done = kube.wait_job("slow", "Complete", "Failed", timeout=60)
    assert done["reason"] == "DeadlineExceeded"
    # KubeRay does not stop the Ray job on a deadline; free the shared head's slot ourselves.
    kube.proxy("shared-head-svc", f"api/jobs/{done['jobId']}/stop", method="POST")


def test_deleting_a_running_rayjob_stops_its_ray_job(kube: Kube, shared: str) -> None:
    kube.create(
        "rayjobs",
        "RayJob",
        "doomed",
        {"entrypoint": "sleep 120", "clusterSelector": {"ray.io/cluster": shared}},
    )
    running = wait_for(
        lambda: (s := kube.job_status("doomed")).get("jobStatus") == "RUNNING" and s, 120, "RUNNING"
    )
    kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", "doomed")
    wait_for(lambda: kube.get("rayjobs", "doomed") is None, 60, "the finalizer to be removed")
    job = wait_for(
        lambda: (
            (j := kube.proxy("shared-head-svc", f"api/jobs/{running['jobId']}"))["status"] != "RUNNING" and j
        ),
        30,
        "the Ray job to stop",
    )
    assert job["status"] == "STOPPED"


def test_head_crash_mid_job_fails_the_rayjob(kr: Any, kube: Kube, shared: str) -> None:
    """Last test of the module: it kills the shared head (a new head would cost another start)."""
    kube.create(
        "rayjobs",
        "RayJob",
        "crashing",
        {"entrypoint": "sleep 120", "clusterSelector": {"ray.io/cluster": shared}},
    )
    wait_for(lambda: kube.job_status("crashing").get("jobStatus") == "RUNNING", 120, "RUNNING")
    pgid = head_pgid(kr, shared)
    assert kr.call(lambda: kr.controller.faults.crash_head(NS, shared)) is True
    assert not group_alive(pgid)
    done = kube.wait_job("crashing", "Failed", "Complete", timeout=60)
    assert done["reason"] == "JobStatusCheckTimeoutExceeded", done
    assert done["jobStatus"] == "RUNNING"  # the last status read before the head died
    cluster = kube.get("rayclusters", shared)
    head_ready = next(c for c in cluster["status"]["conditions"] if c["type"] == "HeadPodReady")
    assert head_ready["status"] == "False"
    pod = kube.core.list_namespaced_pod(
        NS, label_selector="ray.io/cluster=shared,ray.io/node-type=head"
    ).items[0]
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 137


def test_stopping_right_after_a_delete_leaves_no_head_and_no_driver(tmp_path: Path) -> None:
    """The demo's sequence: a cluster with a running job is deleted and the emulator stops at once.

    The head's stop (seconds) began in a reconcile that the shutdown cancels; it must still finish,
    and take the job's driver, which Ray runs outside the head's process group, with it.
    """
    from airflow_ray_k8s.testing.emulator.rayproc import describe_survivors, processes_naming, recorded_groups
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
    from airflow_ray_k8s.testing.procgroups import cmdline

    workdir = tmp_path / "local-kuberay"
    with LocalKubeRay("ray", workdir=workdir) as own:
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(own.write_kubeconfig())))
        body = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "brief"}}
        api.create_namespaced_custom_object(GROUP, VERSION, NS, "rayclusters", {**body, "spec": CLUSTER_SPEC})
        sleeper = {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {"name": "sleeper"},
            "spec": {
                "entrypoint": "python -c \"import time; print('started', flush=True); time.sleep(300)\"",
                "clusterSelector": {"ray.io/cluster": "brief"},
                "submissionMode": "HTTPMode",
            },
        }
        api.create_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", sleeper)

        def running() -> bool:
            obj = api.get_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", "sleeper")
            return (obj.get("status") or {}).get("jobStatus") == "RUNNING"

        wait_for(running, what="the job to run")
        ((_, temp_dir),) = recorded_groups(workdir)
        wait_for(
            lambda: any("time.sleep(300)" in cmdline(p) for p in processes_naming(temp_dir)), 30, "driver"
        )
        api.delete_namespaced_custom_object(GROUP, VERSION, NS, "rayclusters", "brief")
        wait_for(
            lambda: not api.list_namespaced_custom_object(GROUP, VERSION, NS, "rayclusters")["items"], 30
        )
    # No waiting here: the emulator's stop must have finished the head's stop itself.
    assert describe_survivors(workdir) == []
