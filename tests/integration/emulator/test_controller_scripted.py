"""The emulated KubeRay controller in scripted mode (no Ray processes), driven only through the
official ``kubernetes`` client against the local API: status transitions, cleanup, validation,
deadlines, retries, suspend, finalizer, faults."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.integration.emulator.deletion_timing import GoneClock, assert_deleted_within
from tests.integration.emulator.invalid_rayjobs import INVALID_RAYJOBS, cluster_spec, rayjob_spec
from tests.polling import wait_for

GROUP, VERSION, NS = "ray.io", "v1", "default"
ANN = "emulator.airflow-ray-k8s.io/"

CLUSTER_SPEC = cluster_spec()
job_spec = rayjob_spec
"""A valid RayJob spec with its own cluster (HTTPMode), with overrides."""


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


def status_of(kube: Kube, name: str) -> dict[str, Any]:
    job = kube.job(name)
    return (job or {}).get("status") or {}


def wait_deployment(kube: Kube, name: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_for(
        lambda: (s := status_of(kube, name)).get("jobDeploymentStatus") in states and s,
        timeout,
        f"RayJob {name} to reach {states}",
    )


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
    gone = GoneClock(kube.custom, NS, cluster_name, timeout=15)
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
    # Deleted at endTime + ttl, not before and not much after (scripted: no Ray process to wait for).
    assert_deleted_within(gone.wait(), done["endTime"], ttl=2, bound=1.5)
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


def test_a_scripted_driver_prints_what_its_annotations_declare(kube: Kube) -> None:
    kube.create_job(
        "talks",
        job_spec(),
        {
            ANN + "duration-seconds": "0.2",
            ANN + "driver-log": "first line\nsecond line",
            ANN + "driver-log-filler-lines": "3",
        },
    )
    done = wait_deployment(kube, "talks", "Complete", "Failed")
    answer = kube.proxy_get(f"{done['rayClusterName']}-head-svc", f"api/jobs/{done['jobId']}/logs")
    lines = json.loads(answer)["logs"].splitlines()
    assert lines[0].startswith("Running entrypoint for job")
    assert lines[1:] == [
        "first line",
        "second line",
        "filler line 1 of 3 (a long driver log)",
        "filler line 2 of 3 (a long driver log)",
        "filler line 3 of 3 (a long driver log)",
        "scripted success (emulator outcome SUCCEEDED)",
    ]


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


def test_each_validation_rule_ends_validation_failed_for_good(kube: Kube) -> None:
    """Every RayJob rule of the controller (the table shared with test_controller_validation.py),
    through the official client: the API server accepts the object, the operator rejects it; a case
    the CRD schema already refuses gets the API server's 422 naming the field instead."""
    for case in INVALID_RAYJOBS:
        if case.schema_field is None:
            kube.create_job(case.name, case.spec, case.annotations)
            continue
        with pytest.raises(ApiException) as refused:
            kube.create_job(case.name, case.spec, case.annotations)
        assert refused.value.status == 422, case.name
        assert case.schema_field in str(refused.value.body), case.name
    for case in (c for c in INVALID_RAYJOBS if c.schema_field is None):
        status = wait_deployment(
            kube, case.name, "ValidationFailed", "Initializing", "Running", "Complete", "Failed"
        )
        assert status["jobDeploymentStatus"] == "ValidationFailed", (case.name, status)
        assert status["reason"] == "ValidationFailed"
        assert case.expected in status["message"], (case.name, status["message"])
        assert not status.get("rayClusterName"), (case.name, status)
    created = kube.custom.list_namespaced_custom_object(
        GROUP, VERSION, NS, "rayclusters", label_selector="ray.io/originated-from-crd=RayJob"
    )["items"]
    assert created == []
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
        # KubeRay writes both suspend conditions False on every pass of a cluster not suspended.
        "RayClusterSuspended": ("False", "RayClusterSuspended"),
        "RayClusterSuspending": ("False", "RayClusterSuspending"),
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


def test_waiting_outside_interactive_mode_ends_validation_failed(kube: Kube) -> None:
    """``ValidateRayJobStatus``: only InteractiveMode may wait. The status subresource is the one
    way to get there through the client; a head that never schedules keeps the RayJob still."""
    kube.create_job("waits", job_spec(), {ANN + "head-fault": "Unschedulable"})
    wait_deployment(kube, "waits", "Initializing")
    kube.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, "rayjobs", "waits", {"status": {"jobDeploymentStatus": "Waiting"}}
    )
    status = wait_deployment(kube, "waits", "ValidationFailed", timeout=10)
    assert status["reason"] == "ValidationFailed"
    assert "cannot be `Waiting` when SubmissionMode is not InteractiveMode" in status["message"]


def legacy(on_success: str, on_failure: str) -> dict[str, Any]:
    return {"onSuccess": {"policy": on_success}, "onFailure": {"policy": on_failure}}


def worker_groups_suspended(kube: Kube, cluster: str) -> bool:
    groups = ((kube.cluster(cluster) or {}).get("spec") or {}).get("workerGroupSpecs") or []
    return bool(groups) and all(g.get("suspend") for g in groups)


def test_legacy_deletion_strategy_picks_the_policy_by_job_status(kube: Kube) -> None:
    """Legacy ``onSuccess`` / ``onFailure``: the policy of the job's end runs at endTime + ttl, and
    instead of (not besides) shutdownAfterJobFinishes."""
    fast = {ANN + "duration-seconds": "0.2"}
    failing = {**fast, ANN + "outcome": "FAILED"}
    delete_on_end = job_spec(
        shutdownAfterJobFinishes=True,
        ttlSecondsAfterFinished=2,
        deletionStrategy=legacy("DeleteCluster", "DeleteSelf"),
    )
    kube.create_job("legacy-ok", delete_on_end, fast)
    kube.create_job("legacy-bad", delete_on_end, failing)
    # DeleteWorkers wins over shutdownAfterJobFinishes: the cluster stays, its workers go.
    kube.create_job(
        "legacy-workers",
        job_spec(shutdownAfterJobFinishes=True, deletionStrategy=legacy("DeleteWorkers", "DeleteCluster")),
        fast,
    )
    # A failed job runs onFailure's policy (DeleteNone), not onSuccess's.
    kube.create_job("legacy-none", job_spec(deletionStrategy=legacy("DeleteCluster", "DeleteNone")), failing)

    ok_cluster = wait_deployment(kube, "legacy-ok", "Running")["rayClusterName"]
    ok_gone = GoneClock(kube.custom, NS, ok_cluster, timeout=15)
    bad_cluster = wait_deployment(kube, "legacy-bad", "Running")["rayClusterName"]
    bad_gone = GoneClock(kube.custom, NS, "legacy-bad", timeout=15, plural="rayjobs")

    ok = wait_deployment(kube, "legacy-ok", "Complete", "Failed")
    assert (ok["jobDeploymentStatus"], ok["jobStatus"]) == ("Complete", "SUCCEEDED")
    bad = wait_deployment(kube, "legacy-bad", "Complete", "Failed")
    assert (bad["jobDeploymentStatus"], bad["jobStatus"]) == ("Failed", "FAILED")
    # onSuccess: DeleteCluster -> the cluster goes at endTime + ttl, the RayJob stays.
    assert_deleted_within(ok_gone.wait(), ok["endTime"], ttl=2, bound=1.5)
    assert kube.job("legacy-ok") is not None
    # onFailure: DeleteSelf -> the RayJob goes at endTime + ttl, and its cluster with it.
    assert_deleted_within(bad_gone.wait(), bad["endTime"], ttl=2, bound=1.5)
    wait_for(lambda: kube.cluster(bad_cluster) is None, 5, "the owned cluster to follow its RayJob")

    workers = wait_deployment(kube, "legacy-workers", "Complete")
    wait_for(lambda: worker_groups_suspended(kube, workers["rayClusterName"]), 5, "workers suspended")
    none = wait_deployment(kube, "legacy-none", "Failed")
    assert none["jobStatus"] == "FAILED"
    time.sleep(1.0)
    assert kube.cluster(workers["rayClusterName"]) is not None
    assert kube.cluster(none["rayClusterName"]) is not None
    assert not worker_groups_suspended(kube, none["rayClusterName"])
    assert kube.job("legacy-workers") is not None
    assert kube.job("legacy-none") is not None
    # The policy acts once, although every change of the cluster requeues its RayJob.
    assert [e.reason for e in kube.events("legacy-workers")].count("UpdatedRayCluster") == 1


def test_deletion_rule_on_job_deployment_status_failed(kube: Kube) -> None:
    """``condition.jobDeploymentStatus: Failed`` catches the failures whose jobStatus is not FAILED
    (a deadline mid-run, a cluster that never came up), which jobStatus rules let escape."""
    rules = {
        "deletionRules": [
            {"policy": "DeleteCluster", "condition": {"jobDeploymentStatus": "Failed", "ttlSeconds": 1}},
            {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": 0}},
        ]
    }
    kube.create_job(
        "deadline-rules",
        job_spec(deletionStrategy=rules, activeDeadlineSeconds=1),
        {ANN + "duration-seconds": "60"},
    )
    kube.create_job(
        "stuck-rules",
        job_spec(deletionStrategy=rules, preRunningDeadlineSeconds=1),
        {ANN + "head-fault": "Unschedulable"},
    )
    kube.create_job(
        "app-failed-rules",
        job_spec(deletionStrategy=rules),
        {ANN + "duration-seconds": "0.2", ANN + "outcome": "FAILED"},
    )
    kube.create_job("complete-rules", job_spec(deletionStrategy=rules), {ANN + "duration-seconds": "0.2"})
    clocks = {}
    for name in ("deadline-rules", "stuck-rules"):
        cluster = wait_for(lambda n=name: status_of(kube, n).get("rayClusterName"), what=f"{name}'s cluster")
        wait_for(lambda c=cluster: kube.cluster(c), what=f"{cluster} created")
        clocks[name] = (cluster, GoneClock(kube.custom, NS, cluster, timeout=15))
    app_failed_job = GoneClock(kube.custom, NS, "app-failed-rules", timeout=15, plural="rayjobs")

    for name, reason, job_status in (
        ("deadline-rules", "DeadlineExceeded", "RUNNING"),
        ("stuck-rules", "PreRunningDeadlineExceeded", ""),
    ):
        done = wait_deployment(kube, name, "Failed", "Complete", timeout=10)
        assert (done["jobDeploymentStatus"], done["reason"], done.get("jobStatus", "")) == (
            "Failed",
            reason,
            job_status,
        )
        cluster, clock = clocks[name]
        assert_deleted_within(clock.wait(), done["endTime"], ttl=1, bound=1.5)
        # The jobStatus FAILED rule does not match: the RayJob stays.
        assert kube.job(name) is not None

    # An application failure matches both rules; the most destructive (DeleteSelf, ttl 0) runs.
    app_failed_job.wait()
    complete = wait_deployment(kube, "complete-rules", "Complete")
    time.sleep(1.5)
    assert kube.cluster(complete["rayClusterName"]) is not None  # no rule matches a success
    assert kube.job("complete-rules") is not None


def test_cluster_selector_wins_over_ray_cluster_spec(kube: Kube) -> None:
    """Both set: the selected cluster is used, none is created, and nothing is deleted even with
    shutdownAfterJobFinishes."""
    kube.create_cluster("picked", copy.deepcopy(CLUSTER_SPEC))
    wait_for(lambda: ((kube.cluster("picked") or {}).get("status") or {}).get("state") == "ready")
    kube.create_job(
        "both",
        job_spec(
            clusterSelector={"ray.io/cluster": "picked"},
            shutdownAfterJobFinishes=True,
            ttlSecondsAfterFinished=0,
        ),
        {ANN + "duration-seconds": "0.2"},
    )
    done = wait_deployment(kube, "both", "Complete", "Failed")
    assert (done["jobDeploymentStatus"], done["jobStatus"]) == ("Complete", "SUCCEEDED")
    assert done["rayClusterName"] == "picked"
    assert done["dashboardURL"] == f"picked-head-svc.{NS}.svc.cluster.local:8265"
    assert "SUCCEEDED" in kube.proxy_get("picked-head-svc", f"api/jobs/{done['jobId']}")
    time.sleep(1.0)
    clusters = kube.custom.list_namespaced_custom_object(GROUP, VERSION, NS, "rayclusters")["items"]
    assert [c["metadata"]["name"] for c in clusters] == ["picked"]
    picked = clusters[0]
    assert not picked["metadata"].get("ownerReferences")
    assert not picked["metadata"].get("deletionTimestamp")
    assert picked["status"]["state"] == "ready"
    assert not [e for e in kube.events("both") if e.reason in ("CreatedRayCluster", "DeletedRayCluster")]
