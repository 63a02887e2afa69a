"""The local KubeRay's LocalQueues (a Kueue stand-in) in scripted mode, through the official client:
a queued RayJob stays suspended as KubeRay keeps it (``Suspended``, no cluster), the oldest are
admitted while slots are free, a slot is freed when the job has ended and its cluster is gone."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_ray_k8s.resources import RAYCLUSTER
from airflow_ray_k8s.testing.emulator.controller import ControllerOptions
from airflow_ray_k8s.testing.emulator.kueue import check_local_queues
from tests.integration.emulator.test_controller_scripted import (
    ANN,
    CLUSTER_SPEC,
    Kube,
    job_spec,
    kube,
    status_of,
    wait_deployment,
    wait_for,
)

QUEUE = "kueue.x-k8s.io/queue-name"
__all__ = ["kube"]  # the fixture, re-exported so pytest finds it here


def queued_job(kube: Kube, name: str, queue: str, seconds: float = 0.5, ttl: int = 0) -> None:
    spec = job_spec(suspend=True, shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=ttl)
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "labels": {QUEUE: queue},
            "annotations": {ANN + "duration-seconds": str(seconds)},
        },
        "spec": spec,
    }
    kube.custom.create_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", body)


def suspended(kube: Kube, name: str) -> bool:
    return bool(((kube.job(name) or {}).get("spec") or {}).get("suspend"))


@pytest.mark.local_kuberay(local_queues={"q": 1})
def test_one_slot_admits_the_oldest_and_frees_it_when_the_cluster_is_gone(
    kube: Kube, local_kuberay_scripted: Any
) -> None:
    kr = local_kuberay_scripted
    queued_job(kube, "first", "q", seconds=1.5)
    queued_job(kube, "second", "q", seconds=0.3)
    wait_deployment(kube, "first", "Running")
    # The second waits as KubeRay keeps a suspended RayJob: Suspended, no cluster, no job id.
    status = wait_deployment(kube, "second", "Suspended")
    assert suspended(kube, "second")
    assert not status.get("rayClusterName")
    assert not status.get("jobId")
    assert [rc["metadata"]["name"] for rc in kr.objects("rayclusters")] == [
        status_of(kube, "first")["rayClusterName"]
    ]
    # The first ends, KubeRay deletes its cluster (TTL 0): then, and only then, the second starts.
    wait_deployment(kube, "first", "Complete", timeout=10)
    wait_deployment(kube, "second", "Complete", timeout=15)
    assert not suspended(kube, "second")
    assert kr.call(lambda: kr.controller.kueue.admitted) == [
        ("q", "RayJob", "default", "first"),
        ("q", "RayJob", "default", "second"),
    ]
    # Never two clusters at once: the store's high-water mark of RayClusters.
    assert kr.call(lambda: kr.store.peak[RAYCLUSTER]) == 1


@pytest.mark.local_kuberay(local_queues={"q": 2})
def test_a_finished_job_whose_cluster_stays_holds_its_slot_until_deleted(kube: Kube) -> None:
    # A long TTL keeps the finished jobs' clusters: the quota stays held (as Kueue's would while
    # the pods exist) until the RayJob is deleted.
    for name in ("a", "b", "c"):
        queued_job(kube, name, "q", seconds=0.2, ttl=600)
    wait_deployment(kube, "a", "Complete")
    wait_deployment(kube, "b", "Complete")
    assert status_of(kube, "c").get("jobDeploymentStatus") == "Suspended"
    kube.custom.delete_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", "a")
    wait_deployment(kube, "c", "Complete", timeout=15)


@pytest.mark.local_kuberay(local_queues={"q": 1})
def test_an_unknown_queue_never_admits_and_unlabelled_jobs_ignore_the_queue(kube: Kube) -> None:
    queued_job(kube, "lost", "no-such-queue")
    kube.create_job("plain", job_spec(), annotations={ANN + "duration-seconds": "0.2"})
    wait_deployment(kube, "plain", "Complete")
    wait_deployment(kube, "lost", "Suspended")
    assert suspended(kube, "lost")


@pytest.mark.local_kuberay(local_queues={"q": 1})
def test_a_queued_raycluster_is_admitted_and_holds_its_slot_while_it_exists(kube: Kube) -> None:
    for name in ("rc1", "rc2"):
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": name, "labels": {QUEUE: "q"}},
            "spec": dict(CLUSTER_SPEC, suspend=True),
        }
        kube.custom.create_namespaced_custom_object("ray.io", "v1", "default", "rayclusters", body)
    wait_for(lambda: ((kube.cluster("rc1") or {}).get("status") or {}).get("state") == "ready", what="rc1")
    wait_for(
        lambda: ((kube.cluster("rc2") or {}).get("status") or {}).get("state") == "suspended", what="rc2"
    )
    kube.custom.delete_namespaced_custom_object("ray.io", "v1", "default", "rayclusters", "rc1")
    wait_for(lambda: ((kube.cluster("rc2") or {}).get("status") or {}).get("state") == "ready", what="rc2")


def test_local_queues_option_is_checked() -> None:
    assert check_local_queues({"q": 2}) == {"q": 2}
    for bad, words in (
        ({"q": -1}, "slots must be an integer >= 0"),
        ({"q": "2"}, "slots must be an integer >= 0"),
        ({"": 1}, "non-empty string"),
        (["q"], "must be a mapping"),
    ):
        with pytest.raises(ValueError, match=words):
            ControllerOptions.from_kwargs({"local_queues": bad})


def test_cli_local_queue_flag_becomes_the_option() -> None:
    from airflow_ray_k8s.testing.emulator.cli import _parser, controller_options

    args = _parser().parse_args(["--mode", "scripted", "--local-queue", "q=2", "--local-queue", "r=0"])
    assert controller_options(args) == {"local_queues": {"q": 2, "r": 0}}
    with pytest.raises(SystemExit, match="NAME=SLOTS"):
        controller_options(_parser().parse_args(["--local-queue", "q"]))
