"""The node agent: the kubelet, the scheduler, cluster DNS and kube-proxy of a one-node cluster
that has no container runtime.

- **Node**: registers ``Node/<name>`` with this machine's capacity (CPUs, memory, and ``pods`` =
  how many pods it will run at once), Ready, and renews its Lease in ``kube-node-lease``.
- **Scheduler**: binds every unscheduled pod to the node through ``pods/binding`` while there is
  room; beyond ``max_pods`` a pod stays Pending with ``PodScheduled=False`` reason
  ``Unschedulable``, as kube-scheduler reports it.
- **Kubelet**: runs each bound pod with :class:`~airflow_ray_k8s.testing.realkube.pods.PodRunner`
  (real processes: Ray heads, workers, the submitter's ``ray job submit``).
- **DNS and kube-proxy**: every pod's hosts file maps ``<svc>.<ns>.svc.cluster.local`` (and the
  shorter forms) to the Service's ready endpoint addresses read from its EndpointSlices, which the
  real endpointslice controller keeps from the pods' readiness. Names resolve straight to a pod
  address (no ClusterIP translation: there is no kube-proxy), which for the one-replica Services
  KubeRay makes is the same destination. The API server's own service proxy uses the Endpoints
  the real controllers write, not this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from airflow_ray_k8s.testing.realkube.apiclient import ApiClient, ApiStatusError, informer
from airflow_ray_k8s.testing.realkube.events import EventRecorder, now_rfc3339
from airflow_ray_k8s.testing.realkube.imagecache import ImageCache
from airflow_ray_k8s.testing.realkube.images import ImagePolicy
from airflow_ray_k8s.testing.realkube.netns import PodNetwork
from airflow_ray_k8s.testing.realkube.pods import PodRunner

log = logging.getLogger(__name__)

LEASE_SECONDS = 40


def _memory_bytes() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 8 << 30


class NodeAgent:
    """One node of the real control plane.

    :param client: the node's API client (user ``system:node:<name>``).
    :param admin: an admin client, used only to grant the node's roles at start.
    :param node_name: the Node's name.
    :param network: the pod network (started).
    :param pods_root: where each pod's folder (its containers' logs) goes.
    :param images: image references beyond ``rayproject/ray*`` that run here.
    :param image_env: environment the images set in every container (their ``ENV``).
    :param max_pods: pods run at once (``status.allocatable.pods``).
    :param image_pull_seconds: the modelled pull time of a Ray image the node does not hold yet
        (0: every image is present; see :mod:`~airflow_ray_k8s.testing.realkube.imagecache`).
    """

    def __init__(
        self,
        client: ApiClient,
        admin: ApiClient,
        node_name: str,
        network: PodNetwork,
        pods_root: Path,
        *,
        images: tuple[str, ...] = (),
        image_env: dict[str, str] | None = None,
        max_pods: int = 8,
        image_pull_seconds: float = 0.0,
    ) -> None:
        self.client = client
        self._admin = admin
        self.node_name = node_name
        self.network = network
        self.pods_root = Path(pods_root)
        self.images = ImagePolicy.with_extra(images, image_env)
        self.max_pods = max_pods
        #: The node's image store; its ``pull_seconds`` may change between pods.
        self.image_cache = ImageCache(image_pull_seconds)
        self.events = EventRecorder(client, "kubelet", node_name)
        self.runners: dict[str, PodRunner] = {}
        self._unschedulable: set[str] = set()
        self._binding: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}
        self._slices: dict[tuple[str, str], dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reapers: set[asyncio.Task[None]] = set()
        self._registry = pods_root.parent

    async def start(self) -> None:
        """Grant the node its roles, register the Node, and start watching."""
        self.pods_root.mkdir(parents=True, exist_ok=True)
        user = f"system:node:{self.node_name}"
        # system:node (a kubelet's rights), system:node-proxier (what kube-proxy reads: Services,
        # EndpointSlices) and system:kube-scheduler (pods/binding): the three roles the agent plays.
        for role in ("system:node", "system:node-proxier", "system:kube-scheduler"):
            await self._admin.ensure(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"realkube-agent-{role.split(':', 1)[1]}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                },
            )
        await self._register()
        self._tasks = [
            asyncio.create_task(self._watch_pods(), name="agent pods"),
            asyncio.create_task(self._watch_slices(), name="agent dns"),
            asyncio.create_task(self._renew_lease(), name="agent lease"),
        ]

    async def stop(self) -> None:
        """The node goes away: every pod's processes are stopped (2 s grace) and its sandbox removed."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runner in list(self.runners.values()):
            runner.pod["metadata"].setdefault("deletionGracePeriodSeconds", 2)
            runner.gone()
        await asyncio.gather(*(r.finished.wait() for r in self.runners.values()), return_exceptions=True)
        await self.client.close()

    # --- the Node --------------------------------------------------------------------------------

    async def _register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }
        await self.client.ensure(
            "/api/v1/nodes",
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": labels}},
        )
        # The TaintNodesByCondition admission taints a new node not-ready; nothing else here lifts it.
        await self.client.patch(f"/api/v1/nodes/{self.node_name}", {"spec": {"taints": None}})
        capacity = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{_memory_bytes() // 1024}Ki",
            "pods": str(self.max_pods),
            "ephemeral-storage": "100Gi",
        }
        stamp = now_rfc3339()
        conditions = [
            {"type": kind, "status": "False", "reason": reason, "message": message}
            for kind, reason, message in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "node agent is posting ready status",
            }
        )
        for condition in conditions:
            condition.update(lastHeartbeatTime=stamp, lastTransitionTime=stamp)
        await self.client.patch(
            f"/api/v1/nodes/{self.node_name}/status",
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": conditions,
                    "addresses": [
                        {"type": "InternalIP", "address": self.network.gateway},
                        {"type": "Hostname", "address": self.node_name},
                    ],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": "realkube-agent",
                        "containerRuntimeVersion": "realkube://processes",
                        "kernelVersion": os.uname().release,
                        "osImage": "node agent",
                        "kubeProxyVersion": "",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                }
            },
        )

    async def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        while True:
            stamp = now_rfc3339().replace("Z", ".000000Z")
            body = {
                "spec": {
                    "holderIdentity": self.node_name,
                    "leaseDurationSeconds": LEASE_SECONDS,
                    "renewTime": stamp,
                }
            }
            try:
                try:
                    await self.client.patch(path, body)
                except ApiStatusError as exc:
                    if exc.status != 404:
                        raise
                    await self.client.create(
                        path.rsplit("/", 1)[0],
                        {
                            "apiVersion": "coordination.k8s.io/v1",
                            "kind": "Lease",
                            "metadata": {"name": self.node_name},
                            **body,
                        },
                    )
            except (ApiStatusError, OSError) as exc:
                log.debug("lease not renewed: %s", exc)
            await asyncio.sleep(10)

    # --- pods ------------------------------------------------------------------------------------

    async def _watch_pods(self) -> None:
        async for kind, obj in informer(self.client, "/api/v1/pods"):
            try:
                if kind == "LIST":
                    seen = {p["metadata"]["uid"] for p in obj["items"]}
                    for uid in [u for u in self.runners if u not in seen]:
                        self.runners.pop(uid).gone()
                    for pod in obj["items"]:
                        await self._on_pod(pod)
                elif kind == "DELETED":
                    runner = self.runners.pop(obj["metadata"]["uid"], None)
                    if runner is not None:
                        runner.gone()
                    self._pending.pop(obj["metadata"]["uid"], None)
                    self._binding.discard(obj["metadata"]["uid"])
                    await self._schedule_pending()
                else:
                    await self._on_pod(obj)
            except Exception:  # one bad pod must not stop the node
                log.exception("node agent: handling %s", kind)

    async def _on_pod(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        node = spec.get("nodeName")
        if not node:
            if not meta.get("deletionTimestamp"):
                self._pending[uid] = pod
                await self._schedule_pending()
            return
        if node != self.node_name:
            return
        self._pending.pop(uid, None)
        self._binding.discard(uid)
        runner = self.runners.get(uid)
        if runner is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or meta.get(
                "deletionTimestamp"
            ):
                # A pod this agent does not run (anymore): nothing of it runs, let it go.
                if meta.get("deletionTimestamp"):
                    with contextlib.suppress(ApiStatusError):
                        await self.client.delete(
                            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                            {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
                        )
                return
            runner = PodRunner(
                pod,
                self.client,
                self.network,
                self.pods_root,
                self.images,
                self.events,
                self.hosts_lines,
                self._registry,
                self.image_cache,
            )
            self.runners[uid] = runner
            runner.start()
            reaper = asyncio.create_task(self._reap_when_done(runner))
            self._reapers.add(reaper)  # a task nobody references can be garbage-collected mid-run
            reaper.add_done_callback(self._reapers.discard)
        else:
            runner.update(pod)

    async def _reap_when_done(self, runner: PodRunner) -> None:
        await runner.finished.wait()
        self.runners.pop(runner.uid, None)
        await self._schedule_pending()

    def _running(self) -> int:
        return sum(1 for r in self.runners.values() if not r.finished.is_set()) + len(self._binding)

    async def _schedule_pending(self) -> None:
        for uid, pod in list(self._pending.items()):
            meta = pod["metadata"]
            if (pod["spec"].get("schedulerName") or "default-scheduler") != "default-scheduler":
                continue
            if self._running() >= self.max_pods:
                if uid not in self._unschedulable:
                    self._unschedulable.add(uid)
                    await self._unschedulable_status(pod)
                continue
            try:
                await self.client.create(
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                    {
                        "apiVersion": "v1",
                        "kind": "Binding",
                        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": uid},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
                    },
                )
            except ApiStatusError as exc:
                if exc.status not in (404, 409):
                    log.warning("binding %s/%s: %s", meta["namespace"], meta["name"], exc)
            self._pending.pop(uid, None)
            self._unschedulable.discard(uid)
            # Counted at once, before the watch shows it bound: max_pods holds between events too.
            self._binding.add(uid)

    async def _unschedulable_status(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        message = f"0/1 nodes are available: 1 Too many pods (the node agent runs {self.max_pods} at once)."
        with contextlib.suppress(ApiStatusError):
            await self.client.patch(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": message,
                                "lastProbeTime": None,
                                "lastTransitionTime": now_rfc3339(),
                            }
                        ]
                    }
                },
            )
        await self.events.record(pod, "FailedScheduling", message, warning=True)

    # --- DNS -------------------------------------------------------------------------------------

    async def _watch_slices(self) -> None:
        async for kind, obj in informer(self.client, "/apis/discovery.k8s.io/v1/endpointslices"):
            if kind == "LIST":
                self._slices = {_slice_key(s): s for s in obj["items"]}
            elif kind == "DELETED":
                self._slices.pop(_slice_key(obj), None)
            else:
                self._slices[_slice_key(obj)] = obj
            for runner in list(self.runners.values()):
                if getattr(runner, "net", None) is not None:
                    with contextlib.suppress(OSError):
                        runner.write_hosts()

    def hosts_lines(self, namespace: str) -> list[str]:
        """Hosts-file lines for every Service with a ready endpoint, as seen from ``namespace``."""
        addresses: dict[tuple[str, str], list[str]] = {}
        for (ns, _), piece in self._slices.items():
            service = (piece["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if not service or piece.get("addressType") != "IPv4":
                continue
            for endpoint in piece.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                addresses.setdefault((ns, service), []).extend(endpoint.get("addresses") or [])
        lines = []
        for (ns, service), ips in sorted(addresses.items()):
            names = [f"{service}.{ns}.svc.cluster.local", f"{service}.{ns}.svc", f"{service}.{ns}"]
            if ns == namespace:
                names.append(service)
            lines.append(f"{sorted(ips)[0]}\t{' '.join(names)}")
        return lines


def _slice_key(piece: dict[str, Any]) -> tuple[str, str]:
    return piece["metadata"]["namespace"], piece["metadata"]["name"]
