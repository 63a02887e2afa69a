"""``deploy/ray-image-prepull.yaml`` rolled out by the real DaemonSet controller on the real control
plane, with the node agent's modelled image pull (:mod:`airflow_ray_k8s.testing.realkube.imagecache`):
on a cold node a RayCluster's head pod waits for the pull; once the DaemonSet is ready, the node
holds the Ray image and a new head pod finds it already present.

Nothing is pulled for real (no registry here): the pull is a wait of ``PULL_SECONDS`` with the
kubelet's events. What is real is everything around it: the manifest as shipped, the DaemonSet
controller, its pod's init and pause containers run by the node agent, the KubeRay operator's head
pods, their events through the API server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from airflow_ray_k8s.testing.realkube.manifests import documents
from tests.polling import wait_for

pytestmark = pytest.mark.realkube

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "ray-image-prepull.yaml"
NAMESPACE = "ray-jobs"
PULL_SECONDS = 4.0
T = TypeVar("T")


def _eventually(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    return wait_for(probe, timeout, what, interval=0.3)


@pytest.fixture
def node(real_kuberay: Any) -> Iterator[Any]:
    """The session's real control plane with a cold node and a pull time, restored afterwards."""
    kr = real_kuberay
    kr.call(
        kr.admin.ensure(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
    )
    kr.set_image_pull_seconds(PULL_SECONDS)
    kr.forget_images()
    try:
        yield kr
    finally:
        kr.set_image_pull_seconds(0)
        kr.forget_images()


def _events(kr: Any, pod: str) -> list[tuple[str, str]]:
    listing = kr.call(
        kr.admin.get(f"/api/v1/namespaces/{NAMESPACE}/events", fieldSelector=f"involvedObject.name={pod}")
    )
    items = sorted(
        listing.get("items") or [], key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"])
    )
    return [(e["reason"], e["message"]) for e in items]


def _head_pod(kr: Any, cluster: str) -> str | None:
    pods = [
        p
        for p in kr.objects("pods", NAMESPACE)
        if (p["metadata"].get("labels") or {}).get("ray.io/cluster") == cluster
        and p["metadata"]["labels"].get("ray.io/node-type") == "head"
    ]
    return pods[0]["metadata"]["name"] if pods else None


def _image_events(kr: Any, pod: str) -> list[tuple[str, str]] | None:
    """The pod's ``Pulling``/``Pulled`` events once one says the image is there."""
    events = [e for e in _events(kr, pod) if e[0] in ("Pulling", "Pulled")]
    return events if any(reason == "Pulled" for reason, _ in events) else None


def _head_image_events(kr: Any, name: str, image: str) -> list[tuple[str, str]]:
    """Create a head-only RayCluster of ``image``, return its head pod's events up to the image
    being on the node, and delete the cluster (its Ray head need not finish starting)."""
    head = {"name": "ray-head", "image": image, "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}
    cluster = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}}},
    }
    path = f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters"
    kr.call(kr.admin.create(path, cluster))
    try:
        pod = _eventually(lambda: _head_pod(kr, name), f"the head pod of {name}")
        return _eventually(
            lambda: _image_events(kr, pod), f"{pod}'s image on the node", timeout=PULL_SECONDS + 30
        )
    finally:
        kr.call(kr.admin.delete(f"{path}/{name}", {"propagationPolicy": "Foreground"}))


def test_the_prepull_daemonset_fills_the_node_cache_so_head_pods_skip_the_pull(node: Any) -> None:
    kr = node
    (ds,) = documents(MANIFEST)
    assert ds["metadata"]["namespace"] == NAMESPACE  # applied as shipped
    image = ds["spec"]["template"]["spec"]["initContainers"][0]["image"]
    pulling = ("Pulling", f'Pulling image "{image}"')

    # A cold node: the head pod waits for the pull, with the kubelet's events.
    cold = _head_image_events(kr, "prepull-cold", image)
    assert len(cold) == 2
    assert cold[0] == pulling
    assert cold[1][0] == "Pulled"
    assert cold[1][1].startswith(f'Successfully pulled image "{image}" in ')
    assert "including waiting). Image size: " in cold[1][1]
    _eventually(lambda: not _head_pod(kr, "prepull-cold") or None, "the cold cluster's pods gone")

    # Cold again, then the DaemonSet as shipped: its pod pulls the image and keeps running.
    kr.forget_images()
    assert image not in kr.held_images()
    ds_path = f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets"
    kr.call(kr.admin.create(ds_path, ds))
    try:

        def rolled_out() -> dict[str, Any] | None:
            status = kr.call(kr.admin.get(f"{ds_path}/{ds['metadata']['name']}")).get("status") or {}
            ready = status.get("desiredNumberScheduled") == status.get("numberReady") == 1
            return status if ready else None

        status = _eventually(rolled_out, "the DaemonSet ready on the node", timeout=PULL_SECONDS + 40)
        assert status["numberAvailable"] == 1
        (ds_pod,) = [
            p for p in kr.objects("pods", NAMESPACE) if p["metadata"]["name"].startswith("ray-image-prepull-")
        ]
        assert ds_pod["status"]["phase"] == "Running"
        (init,) = ds_pod["status"]["initContainerStatuses"]
        assert init["state"]["terminated"]["exitCode"] == 0
        events = _events(kr, ds_pod["metadata"]["name"])
        assert pulling in events
        assert ("Pulled", 'Container image "registry.k8s.io/pause:3.10" already present on machine') in events
        assert image in kr.held_images()
        # The pause container runs on (as user 65535, its securityContext: not restarted since).
        (pause,) = kr.call(kr.admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{ds_pod['metadata']['name']}"))[
            "status"
        ]["containerStatuses"]
        assert "running" in pause["state"]
        assert pause["restartCount"] == 0

        # A head pod created now starts from the node's cache: no pull.
        warm = _head_image_events(kr, "prepull-warm", image)
        assert warm == [("Pulled", f'Container image "{image}" already present on machine')]
    finally:
        kr.call(kr.admin.delete(f"{ds_path}/{ds['metadata']['name']}", {"propagationPolicy": "Foreground"}))
    # Nothing left: the clusters, the DaemonSet and every pod of theirs are gone.
    _eventually(lambda: not kr.objects("pods", NAMESPACE) or None, "every pod gone", timeout=60)
    assert kr.objects("rayclusters", NAMESPACE) == []
    assert kr.call(kr.admin.get(ds_path))["items"] == []
