"""The objects the emulated operator writes: head pod and service, events, conditions, timestamps.

Labels, names and ports follow KubeRay v1.7 (../shared/kuberay/FACTS.md, "RayCluster").
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timezone
from typing import Any

# Re-exported: the controllers write their status patches with it.
from airflow_ray_k8s.kube.patches import merge_patch as merge_patch
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB

KUBERAY = "kuberay-operator"
DEFAULT_PORTS = {"gcs": 6379, "dashboard": 8265, "client": 10001, "metrics": 8080, "serve": 8000}
_ALNUM = string.ascii_lowercase + string.digits


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it (second precision, UTC, ``Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_from_ms(ms: int) -> str:
    """A Ray timestamp (ms since the epoch) as a Kubernetes time."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of a Kubernetes time, None if unset or unparsable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def random_suffix(length: int = 5) -> str:
    """KubeRay's generated-name suffix: lowercase alphanumerics."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def owner_reference(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """A controller ownerReference to ``obj`` (so deleting it cascades)."""
    meta = obj["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def cluster_labels(cluster: str, node_type: str, group: str) -> dict[str, str]:
    """The labels KubeRay puts on a Ray pod."""
    return {
        "ray.io/cluster": cluster,
        "ray.io/node-type": node_type,
        "ray.io/group": group,
        "ray.io/is-ray-node": "yes",
        "ray.io/identifier": f"{cluster}-{node_type}",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": KUBERAY,
    }


def head_ports(spec: dict[str, Any]) -> dict[str, int]:
    """Port name -> port of the head: KubeRay's defaults, overridden by the container's ports."""
    ports = dict(DEFAULT_PORTS)
    containers = (((spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    )
    for port in (containers or [{}])[0].get("ports") or []:
        if port.get("name") and port.get("containerPort"):
            ports[str(port["name"])] = int(port["containerPort"])
    return ports


def head_service(raycluster: dict[str, Any]) -> dict[str, Any]:
    """``<cluster>-head-svc``: headless (KubeRay's default), selecting the head pod."""
    meta = raycluster["metadata"]
    name = meta["name"]
    spec = raycluster.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{name}-head-svc",
            "namespace": meta["namespace"],
            "labels": {
                "ray.io/cluster": name,
                "ray.io/node-type": "head",
                "ray.io/identifier": f"{name}-head",
                "app.kubernetes.io/name": "kuberay",
                "app.kubernetes.io/created-by": KUBERAY,
            },
            "annotations": dict(
                (spec.get("headGroupSpec") or {}).get("headService", {}).get("annotations") or {}
            ),
            "ownerReferences": [owner_reference(raycluster, RAYCLUSTER.kind, RAYCLUSTER.api_version)],
        },
        "spec": {
            "clusterIP": "None",
            "type": (spec.get("headGroupSpec") or {}).get("serviceType") or "ClusterIP",
            "selector": {"ray.io/cluster": name, "ray.io/node-type": "head"},
            "ports": [
                {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP", "appProtocol": "tcp"}
                for port_name, port in head_ports(spec).items()
            ],
            "publishNotReadyAddresses": True,
        },
    }


def head_pod(raycluster: dict[str, Any]) -> dict[str, Any]:
    """The head pod, Pending until the controller reports it running."""
    meta = raycluster["metadata"]
    name = meta["name"]
    spec = raycluster.get("spec") or {}
    template = (spec.get("headGroupSpec") or {}).get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.update(cluster_labels(name, "head", "headgroup"))
    pod_spec = dict(template.get("spec") or {})
    pod_spec.setdefault("restartPolicy", "Always")
    pod_spec.setdefault("nodeName", "")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-head-{random_suffix()}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": [owner_reference(raycluster, RAYCLUSTER.kind, RAYCLUSTER.api_version)],
        },
        "spec": pod_spec,
        "status": pending_pod_status(),
    }


def _container_name(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("name") or "ray-head")


def _container_image(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image") or "rayproject/ray")


def _pod_condition(ctype: str, ok: bool, when: str, reason: str = "", message: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": ctype, "status": "True" if ok else "False", "lastTransitionTime": when}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _not_ready(pod: dict[str, Any], when: str) -> list[dict[str, Any]]:
    unready = f"containers with unready status: [{_container_name(pod)}]"
    return [
        _pod_condition("Ready", False, when, "ContainersNotReady", unready),
        _pod_condition("ContainersReady", False, when, "ContainersNotReady", unready),
    ]


def pending_pod_status() -> dict[str, Any]:
    """A pod accepted but not scheduled yet."""
    return {"phase": "Pending", "conditions": [], "qosClass": "BestEffort"}


def running_pod_status(pod: dict[str, Any], started: str) -> dict[str, Any]:
    """A pod whose Ray container is running and ready, on loopback."""
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": started}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    return {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "hostIP": "127.0.0.1",
        "startTime": started,
        "conditions": conditions,
        "containerStatuses": [
            {
                "name": _container_name(pod),
                "image": _container_image(pod),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            }
        ],
    }


def crashed_pod_status(pod: dict[str, Any], message: str) -> dict[str, Any]:
    """A pod whose Ray container died (its last state terminated, not ready)."""
    when = now_rfc3339()
    status = dict(pod.get("status") or {})
    status["conditions"] = [*_not_ready(pod, when), _pod_condition("PodScheduled", True, when)]
    status["containerStatuses"] = [
        {
            "name": _container_name(pod),
            "image": _container_image(pod),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 1,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting container"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": when}},
        }
    ]  # fmt: skip
    return status


def image_pull_pod_status(pod: dict[str, Any], reason: str) -> dict[str, Any]:
    """A scheduled pod stuck pulling its image (``ImagePullBackOff`` or ``ErrImagePull``)."""
    when = now_rfc3339()
    image = _container_image(pod)
    message = (
        f'Back-off pulling image "{image}"'
        if reason == "ImagePullBackOff"
        else f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
    )
    return {
        "phase": "Pending",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": when,
        "conditions": [
            _pod_condition("PodScheduled", True, when),
            _pod_condition("Initialized", True, when),
            *_not_ready(pod, when),
        ],
        "containerStatuses": [
            {"name": _container_name(pod), "image": image, "imageID": "", "ready": False, "started": False,
             "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}
        ],
    }  # fmt: skip


UNSCHEDULABLE_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are "
    "available: 1 No preemption victims found for incoming pod."
)


def unschedulable_pod_status() -> dict[str, Any]:
    """A pod the scheduler cannot place."""
    return {
        "phase": "Pending",
        "qosClass": "Burstable",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": UNSCHEDULABLE_MESSAGE,
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        ],
    }


def image_pull_events(pod: dict[str, Any], reason: str) -> list[tuple[str, str, str]]:
    """``(type, reason, message)`` of the kubelet events of a failing image pull, in order."""
    image = _container_image(pod)
    events = [
        ("Normal", "Pulling", f'Pulling image "{image}"'),
        (
            "Warning",
            "Failed",
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack '
            f'image "{image}": failed to resolve reference "{image}": not found',
        ),
        ("Warning", "Failed", "Error: ErrImagePull"),
    ]
    if reason == "ImagePullBackOff":
        events += [
            ("Normal", "BackOff", f'Back-off pulling image "{image}"'),
            ("Warning", "Failed", "Error: ImagePullBackOff"),
        ]
    return events


def event(
    involved: dict[str, Any],
    kind: str,
    event_type: str,
    reason: str,
    message: str,
    component: str,
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (name ``<object>.<16 hex>`` like client-go's recorder)."""
    meta = involved["metadata"]
    when = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "involvedObject": {
            "kind": kind,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "apiVersion": RAYJOB.api_version if kind in ("RayJob", "RayCluster") else "v1",
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }


def condition(
    ctype: str, status: bool, reason: str, message: str = "", previous: Any = None
) -> dict[str, Any]:
    """A metav1.Condition; keeps the previous transition time when the status did not change."""
    value = "True" if status else "False"
    when = now_rfc3339()
    for old in previous or []:
        if old.get("type") == ctype and old.get("status") == value:
            when = old.get("lastTransitionTime") or when
    return {"type": ctype, "status": value, "reason": reason, "message": message, "lastTransitionTime": when}
