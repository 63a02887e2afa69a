"""The emulated KubeRay controller in scripted mode (no Ray processes), driven only through the
official ``kubernetes`` client against the local API: status transitions, cleanup, validation,
deadlines, retries, suspend, finalizer, faults."""

from __future__ import annotations

import calendar
import copy
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

GROUP, VERSION, NS = "ray.io", "v1", "default"
ANN = "emulator.airflow-ray-k8s.io/"

HEAD = {
    "rayStartParams": {},
    "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
}
CLUSTER_SPEC = {
    "rayVersion": "2.60.0",
    "headGroupSpec": HEAD,
    "workerGroupSpecs": [
        {
            "groupName": "small",
            "replicas": 1,
            "minReplicas": 0,
            "maxReplicas": 2,
            "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}},
        }
    ],
}


class Kube:
    """The official client pointed at the emulator."""

    def __init__(self, kr: Any) -> None:
        api_client = config.new_client_from_config(str(kr.write_kubeconfig()))
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def create_job(self, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> None:
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", body)

    def create_cluster(
        self, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
    ) -> None:
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NS, "rayclusters", body)

    def job(self, name: str) -> dict[str, Any] | None:
        return self._get("rayjobs", name)

    def cluster(self, name: str) -> dict[str, Any] | None:
        return self._get("rayclusters", name)

    def _get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", name, patch)

    def proxy_get(self, service: str, path: str) -> str:
        """GET through the API server's service proxy, the way the provider reaches a head."""
        response = self.core.api_client.call_api(
            f"/api/v1/namespaces/{NS}/services/{service}:dashboard/proxy/{path}",
            "GET",
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        return str(response.data.decode())

    def events(self, name: str) -> list[Any]:
        return [e for e in self.core.list_namespaced_event(NS).items if e.involved_object.name == name]


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def status_of(kube: Kube, name: str) -> dict[str, Any]:
    job = kube.job(name)
    return (job or {}).get("status") or {}


def wait_deployment(kube: Kube, name: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_for(
        lambda: (s := status_of(kube, name)).get("jobDeploymentStatus") in states and s,
        timeout,
        f"RayJob {name} to reach {states}",
    )


def job_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "python -c 'print(42)'",
        "submissionMode": "HTTPMode",
        "rayClusterSpec": copy.deepcopy(CLUSTER_SPEC),
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def kube(local_kuberay_scripted: Any) -> Kube:
    return Kube(local_kuberay_scripted)


def test_rayjob_succeeds_and_its_cluster_is_deleted_ttl_after_end_time(
    kube: Kube, local_kuberay_scripted: Any
) -> None:
    kube.create_job(
        "ok",
        job_spec(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=2),
        {ANN + "duration-seconds": "0.3"},
    )
    running = wait_deployment(kube, "ok", "Running")
    cluster_name = running["rayClusterName"]
    assert re.fullmatch(r"ok-[a-z0-9]{5}", cluster_name)
    assert re.fullmatch(r"ok-[a-z0-9]{5}", running["jobId"])
    cluster = kube.cluster(cluster_name)
    assert cluster is not None
    owner = cluster["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("RayJob", "ok")
    pods = kube.core.list_namespaced_pod(NS, label_selector=f"ray.io/cluster={cluster_name}").items
    assert [p.metadata.labels["ray.io/node-type"] for p in pods] == ["head"]
    assert pods[0].metadata.labels["ray.io/group"] == "headgroup"
    assert pods[0].metadata.labels["app.kubernetes.io/created-by"] == "kuberay-operator"
    assert kube.core.read_namespaced_service(f"{cluster_name}-head-svc", NS).spec.cluster_ip == "None"
    assert "ray.io/rayjob-finalizer" in kube.job("ok")["metadata"]["finalizers"]

    done = wait_deployment(kube, "ok", "Complete", "Failed")
    assert done["jobStatus"] == "SUCCEEDED"
    assert done["jobDeploymentStatus"] == "Complete"
    assert done["succeeded"] == 1
    assert done["failed"] == 0
    assert done["dashboardURL"] == f"{cluster_name}-head-svc.default.svc.cluster.local:8265"
    assert done["rayClusterStatus"]["state"] == "ready"
    assert done["endTime"]
    assert done["startTime"]
    # Still there right after the end: the TTL counts from endTime.
    assert kube.cluster(cluster_name) is not None
    wait_for(lambda: kube.cluster(cluster_name) is None, 10, "the cluster to be deleted after its TTL")
    deleted_at = time.time()
    end = calendar.timegm(time.strptime(done["endTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert deleted_at >= end + 2
    assert kube.core.list_namespaced_pod(NS, label_selector=f"ray.io/cluster={cluster_name}").items == []
    # The RayJob itself stays (DELETE_RAYJOB_CR_AFTER_JOB_FINISHES is off).
    assert kube.job("ok") is not None


def test_logs_and_status_are_served_through_the_service_proxy(kube: Kube) -> None:
    kube.create_job("proxied", job_spec(), {ANN + "duration-seconds": "30"})
    status = wait_for(
        lambda: status_of(kube, "proxied").get("jobStatus") == "RUNNING" and status_of(kube, "proxied")
    )
    service = f"{status['rayClusterName']}-head-svc"
    assert '"ray_version"' in kube.proxy_get(service, "api/version").replace("'", '"')
    assert "RUNNING" in kube.proxy_get(service, f"api/jobs/{status['jobId']}")
    assert "Running entrypoint" in kube.proxy_get(service, f"api/jobs/{status['jobId']}/logs")


def test_failing_job_ends_failed_app_failed(kube: Kube) -> None:
    kube.create_job("bad", job_spec(), {ANN + "outcome": "FAILED", ANN + "duration-seconds": "0.1"})
    done = wait_deployment(kube, "bad", "Complete", "Failed")
    assert (done["jobDeploymentStatus"], done["jobStatus"], done["reason"]) == (
        "Failed",
        "FAILED",
        "AppFailed",
    )
    assert done["failed"] == 1
    assert "exit code 1" in done["message"]


def test_rejected_submission_ends_submission_failed_in_k8s_job_mode(kube: Kube) -> None:
    spec = job_spec(submissionMode="K8sJobMode", submitterConfig={"backoffLimit": 1})
    kube.create_job("rejected", spec, {ANN + "outcome": "REJECTED"})
    done = wait_deployment(kube, "rejected", "Failed", "Complete", timeout=30)
    assert done["reason"] == "SubmissionFailed"
    assert "BackoffLimitExceeded" in done["message"]
    warnings = [e for e in kube.events("rejected") if e.reason == "FailedToSubmitRayJob"]
    assert len(warnings) == 2  # the first attempt and one retry (submitterConfig.backoffLimit: 1)


def test_backoff_limit_retries_on_a_new_cluster_each_time(kube: Kube) -> None:
    kube.create_job(
        "retry", job_spec(backoffLimit=1), {ANN + "outcome": "FAILED", ANN + "duration-seconds": "0.1"}
    )
    first = wait_for(lambda: status_of(kube, "retry").get("rayClusterName"), what="a first cluster")
    done = wait_for(
        lambda: (
            (s := status_of(kube, "retry")).get("failed") == 2
            and s.get("jobDeploymentStatus") == "Failed"
            and s
        ),
        20,
        "two failed attempts",
    )
    assert done["rayClusterName"] != first
    assert done["reason"] == "AppFailed"
    assert kube.cluster(first) is None


def test_active_deadline_ends_deadline_exceeded_without_retry(kube: Kube) -> None:
    kube.create_job(
        "late", job_spec(activeDeadlineSeconds=1, backoffLimit=2), {ANN + "duration-seconds": "60"}
    )
    done = wait_deployment(kube, "late", "Failed", "Complete", timeout=10)
    assert done["reason"] == "DeadlineExceeded"
    assert "activeDeadlineSeconds" in done["message"]
    assert done["failed"] == 1


def test_unschedulable_head_shows_pod_status_events_and_pre_running_deadline(kube: Kube) -> None:
    kube.create_job("stuck", job_spec(preRunningDeadlineSeconds=2), {ANN + "head-fault": "Unschedulable"})
    cluster = wait_for(lambda: status_of(kube, "stuck").get("rayClusterName"))
    pod = wait_for(
        lambda: [
            p
            for p in kube.core.list_namespaced_pod(NS, label_selector=f"ray.io/cluster={cluster}").items
            if p.status.conditions
        ]
    )[0]
    scheduled = pod.status.conditions[0]
    assert (scheduled.type, scheduled.status, scheduled.reason) == ("PodScheduled", "False", "Unschedulable")
    assert pod.status.phase == "Pending"
    events = kube.events(pod.metadata.name)
    assert [(e.type, e.reason) for e in events] == [("Warning", "FailedScheduling")]
    assert "Insufficient cpu" in events[0].message
    assert status_of(kube, "stuck")["jobDeploymentStatus"] == "Initializing"
    done = wait_deployment(kube, "stuck", "Failed", timeout=10)
    assert done["reason"] == "PreRunningDeadlineExceeded"


def test_image_pull_backoff_head_pod(kube: Kube) -> None:
    kube.create_cluster("pull", copy.deepcopy(CLUSTER_SPEC), {ANN + "head-fault": "ImagePullBackOff"})
    pod = wait_for(
        lambda: [
            p
            for p in kube.core.list_namespaced_pod(NS, label_selector="ray.io/cluster=pull").items
            if p.status.container_statuses
        ]
    )[0]
    waiting = pod.status.container_statuses[0].state.waiting
    assert waiting.reason == "ImagePullBackOff"
    assert "rayproject/ray:2.60.0" in waiting.message
    reasons = [(e.type, e.reason) for e in kube.events(pod.metadata.name)]
    assert ("Warning", "Failed") in reasons
    assert ("Normal", "BackOff") in reasons
    cluster = wait_for(lambda: (kube.cluster("pull") or {}).get("status"))
    head_ready = next(c for c in cluster["conditions"] if c["type"] == "HeadPodReady")
    assert (head_ready["status"], head_ready["reason"]) == ("False", "ImagePullBackOff")
    assert cluster.get("state") != "ready"


INVALID_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("ttl-without-shutdown", job_spec(ttlSecondsAfterFinished=10), "cannot have TTLSecondsAfterFinished"),
    (
        "rules-and-shutdown",
        job_spec(
            shutdownAfterJobFinishes=True,
            deletionStrategy={
                "deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}]
            },
        ),
        "mutually exclusive",
    ),
    (
        "ttl-order",
        job_spec(
            deletionStrategy={
                "deletionRules": [
                    {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 10}},
                    {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 20}},
                ]
            }
        ),
        "DeleteCluster TTL (10) must be >= DeleteWorkers TTL (20)",
    ),
    ("suspend-without-shutdown", job_spec(suspend=True), "not allowed to be suspended"),
    (
        "suspend-with-selector",
        {
            "entrypoint": "x",
            "suspend": True,
            "shutdownAfterJobFinishes": True,
            "clusterSelector": {"ray.io/cluster": "c"},
        },
        "doesn't support the suspend operation",
    ),
    ("no-cluster", {"entrypoint": "x"}, "one of RayClusterSpec or ClusterSelector must be set"),
    ("selector-without-key", {"entrypoint": "x", "clusterSelector": {"app": "c"}}, "should not be empty"),
    (
        "selector-sidecar",
        {"entrypoint": "x", "submissionMode": "SidecarMode", "clusterSelector": {"ray.io/cluster": "c"}},
        "not supported in SidecarMode",
    ),
    (
        "selector-backoff",
        {"entrypoint": "x", "backoffLimit": 1, "clusterSelector": {"ray.io/cluster": "c"}},
        "BackoffLimit is incompatible with ClusterSelector",
    ),
    ("interactive-backoff", job_spec(submissionMode="InteractiveMode", backoffLimit=1), "InteractiveMode"),
    (
        "sidecar-template",
        job_spec(submissionMode="SidecarMode", submitterPodTemplate={}),
        "SubmitterPodTemplate",
    ),
    (
        "sidecar-config",
        job_spec(submissionMode="SidecarMode", submitterConfig={"backoffLimit": 1}),
        "SubmitterConfig",
    ),
    ("bad-runtime-env", job_spec(runtimeEnvYAML="pip: [unclosed"), "RuntimeEnvYAML"),
    ("bad-deadline", job_spec(activeDeadlineSeconds=0), "activeDeadlineSeconds must be a positive integer"),
    (
        "no-head-container",
        job_spec(rayClusterSpec={"headGroupSpec": {"template": {"spec": {"containers": []}}}}),
        "at least one container",
    ),
    ("a" * 48, job_spec(), "no more than 47 characters"),
]


def test_each_validation_rule_ends_validation_failed_for_good(kube: Kube) -> None:
    for name, spec, _ in INVALID_SPECS:
        kube.create_job(name, spec)
    for name, _, expected in INVALID_SPECS:
        status = wait_deployment(
            kube, name, "ValidationFailed", "Initializing", "Running", "Complete", "Failed"
        )
        assert status["jobDeploymentStatus"] == "ValidationFailed", (name, status)
        assert status["reason"] == "ValidationFailed"
        assert expected in status["message"], (name, status["message"])
        assert kube.cluster(status.get("rayClusterName") or "none") is None
    # Fixing the spec does not leave ValidationFailed (KubeRay never leaves it).
    kube.patch_job("ttl-without-shutdown", {"spec": {"ttlSecondsAfterFinished": 0}})
    time.sleep(0.5)
    assert status_of(kube, "ttl-without-shutdown")["jobDeploymentStatus"] == "ValidationFailed"
    assert any(e.reason == "InvalidRayJobSpec" for e in kube.events("no-cluster"))


def test_deleting_a_running_rayjob_stops_its_ray_job(kube: Kube) -> None:
    kube.create_job("doomed", job_spec(), {ANN + "duration-seconds": "60"})
    status = wait_for(
        lambda: status_of(kube, "doomed").get("jobStatus") == "RUNNING" and status_of(kube, "doomed")
    )
    service = f"{status['rayClusterName']}-head-svc"
    kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", "doomed")
    wait_for(lambda: kube.job("doomed") is None, what="the finalizer to be removed")
    # The cluster goes with its owner; read the job's end through its head before that, if it is still up.
    try:
        answer = kube.proxy_get(service, f"api/jobs/{status['jobId']}")
    except ApiException:
        answer = None
    if answer is not None:
        assert "STOPPED" in answer
    wait_for(lambda: kube.cluster(status["rayClusterName"]) is None, what="the owned cluster to be deleted")


def test_stop_on_delete_is_visible_on_a_shared_cluster(kube: Kube) -> None:
    kube.create_cluster("shared", copy.deepcopy(CLUSTER_SPEC))
    wait_for(lambda: ((kube.cluster("shared") or {}).get("status") or {}).get("state") == "ready")
    kube.create_job(
        "on-shared",
        {"entrypoint": "sleep 60", "clusterSelector": {"ray.io/cluster": "shared"}},
        {ANN + "duration-seconds": "60"},
    )
    status = wait_for(
        lambda: status_of(kube, "on-shared").get("jobStatus") == "RUNNING" and status_of(kube, "on-shared")
    )
    kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "rayjobs", "on-shared")
    wait_for(lambda: kube.job("on-shared") is None)
    assert '"status": "STOPPED"' in kube.proxy_get("shared-head-svc", f"api/jobs/{status['jobId']}").replace(
        "'", '"'
    )
    assert kube.cluster("shared") is not None  # clusterSelector: nothing is deleted


def test_cluster_selector_job_leaves_the_cluster(kube: Kube) -> None:
    kube.create_cluster("keep", copy.deepcopy(CLUSTER_SPEC))
    kube.create_job("uses-keep", {"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "keep"}})
    done = wait_deployment(kube, "uses-keep", "Complete", "Failed")
    assert done["jobStatus"] == "SUCCEEDED"
    assert done["rayClusterName"] == "keep"
    time.sleep(0.3)
    assert kube.cluster("keep") is not None


def test_raycluster_status_when_ready(kube: Kube) -> None:
    kube.create_cluster("rc", copy.deepcopy(CLUSTER_SPEC))
    cluster = wait_for(
        lambda: (c := kube.cluster("rc")) and (c.get("status") or {}).get("state") == "ready" and c
    )
    status = cluster["status"]
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "HeadPodReady": ("True", "HeadPodRunningAndReady"),
        "RayClusterProvisioned": ("True", "AllPodRunningAndReadyFirstTime"),
    }
    assert status["head"]["serviceName"] == "rc-head-svc"
    assert status["head"]["podIP"] == "127.0.0.1"
    assert status["endpoints"]["dashboard"] == "8265"
    assert (status["desiredWorkerReplicas"], status["readyWorkerReplicas"]) == (1, 1)
    assert status["observedGeneration"] == cluster["metadata"]["generation"]
    head = kube.core.list_namespaced_pod(NS, label_selector="ray.io/cluster=rc,ray.io/node-type=head").items[
        0
    ]
    assert head.status.phase == "Running"
    assert head.metadata.owner_references[0].kind == "RayCluster"


def test_raycluster_suspend_and_resume(kube: Kube) -> None:
    kube.create_cluster("sus", copy.deepcopy(CLUSTER_SPEC))
    wait_for(lambda: ((kube.cluster("sus") or {}).get("status") or {}).get("state") == "ready")
    kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, "rayclusters", "sus", {"spec": {"suspend": True}}
    )
    suspended = wait_for(
        lambda: (
            ((kube.cluster("sus") or {}).get("status") or {}).get("state") == "suspended"
            and kube.cluster("sus")
        )
    )
    conditions = {c["type"]: c["status"] for c in suspended["status"]["conditions"]}
    assert conditions["RayClusterSuspended"] == "True"
    assert conditions["RayClusterSuspending"] == "False"
    assert kube.core.list_namespaced_pod(NS, label_selector="ray.io/cluster=sus").items == []
    kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, "rayclusters", "sus", {"spec": {"suspend": False}}
    )
    wait_for(lambda: ((kube.cluster("sus") or {}).get("status") or {}).get("state") == "ready")


def test_rayjob_suspend_deletes_the_cluster_and_resume_runs_again(kube: Kube) -> None:
    kube.create_job("pause", job_spec(shutdownAfterJobFinishes=True), {ANN + "duration-seconds": "1.5"})
    first = wait_deployment(kube, "pause", "Running")["rayClusterName"]
    kube.patch_job("pause", {"spec": {"suspend": True}})
    wait_deployment(kube, "pause", "Suspended")
    assert kube.cluster(first) is None
    kube.patch_job("pause", {"spec": {"suspend": False}})
    done = wait_deployment(kube, "pause", "Complete", "Failed")
    assert done["jobStatus"] == "SUCCEEDED"
    assert done["rayClusterName"] != first


def test_deletion_rules_most_destructive_overdue_first(kube: Kube) -> None:
    rules = [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 2}},
        {"policy": "DeleteSelf", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 3}},
        {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": 0}},
    ]
    kube.create_job(
        "rules", job_spec(deletionStrategy={"deletionRules": rules}), {ANN + "duration-seconds": "0.1"}
    )
    done = wait_deployment(kube, "rules", "Complete")
    cluster = done["rayClusterName"]
    wait_for(
        lambda: all(
            g.get("suspend")
            for g in ((kube.cluster(cluster) or {}).get("spec") or {}).get("workerGroupSpecs", [{}])
        ),
        what="worker groups suspended",
    )
    assert kube.cluster(cluster) is not None
    wait_for(lambda: kube.cluster(cluster) is None, what="DeleteCluster after 2s")
    assert kube.job("rules") is not None
    wait_for(lambda: kube.job("rules") is None, timeout=10, what="DeleteSelf after 3s")


@pytest.mark.local_kuberay(delete_rayjob_after_job_finishes=True)
def test_delete_rayjob_after_job_finishes_option(kube: Kube) -> None:
    kube.create_job(
        "gone",
        job_spec(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=2),
        {ANN + "duration-seconds": "0.1"},
    )
    wait_deployment(kube, "gone", "Complete")
    wait_for(lambda: kube.job("gone") is None, what="the RayJob to delete itself")


@pytest.mark.local_kuberay(job_status_check_timeout=1.0)
def test_head_crash_mid_job_fails_the_rayjob(kube: Kube) -> None:
    kube.create_job(
        "crash", job_spec(), {ANN + "duration-seconds": "60", ANN + "head-crash-after-seconds": "0.3"}
    )
    wait_deployment(kube, "crash", "Running")
    done = wait_deployment(kube, "crash", "Failed", "Complete", timeout=15)
    assert done["reason"] == "JobStatusCheckTimeoutExceeded"
    cluster = kube.cluster(done["rayClusterName"])
    head_ready = next(c for c in cluster["status"]["conditions"] if c["type"] == "HeadPodReady")
    assert head_ready["status"] == "False"


@pytest.mark.local_kuberay(max_heads=0)
def test_head_cap_is_reported_on_the_raycluster(local_kuberay: Any) -> None:
    """max_heads=0: the cap is hit before any Ray process starts, so this runs without Ray."""
    kube = Kube(local_kuberay)
    kube.create_cluster("capped", copy.deepcopy(CLUSTER_SPEC))
    cluster = wait_for(
        lambda: (kube.cluster("capped") or {}).get("status", {}).get("conditions") and kube.cluster("capped")
    )
    failure = next(c for c in cluster["status"]["conditions"] if c["type"] == "ReplicaFailure")
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreateHeadPod")
    assert "at most 0 real Ray heads" in failure["message"]
    assert any(e.reason == "FailedToCreateHeadPod" for e in kube.events("capped"))


def test_slow_provisioning_delays_the_head(kube: Kube) -> None:
    kube.create_cluster("slow", copy.deepcopy(CLUSTER_SPEC), {ANN + "provision-delay-seconds": "2"})
    created = time.monotonic()
    pending = wait_for(lambda: ((kube.cluster("slow") or {}).get("status") or {}).get("conditions"))
    provisioned = next(c for c in pending if c["type"] == "RayClusterProvisioned")
    assert (provisioned["status"], provisioned["reason"]) == ("False", "RayClusterPodsProvisioning")
    wait_for(lambda: ((kube.cluster("slow") or {}).get("status") or {}).get("state") == "ready", what="ready")
    assert time.monotonic() - created >= 1.0  # the creationTimestamp has second precision
