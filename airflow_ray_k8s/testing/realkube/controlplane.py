"""The real control plane: etcd, kube-apiserver, kube-controller-manager and the KubeRay operator
as local processes, plus the node agent that plays the kubelet, DNS and the pod network.

``RealKubeRay`` has the interface of the local KubeRay (``start``/``stop``, ``workdir``,
``kubeconfig_path``, ``airflow_conn_env``, ``objects``) so the same tests run on both. What differs
is that every request goes to the real API server over TLS and every RayCluster/RayJob is
reconciled by the real KubeRay operator.

Who is who (each a client certificate of the run's CA, or a service-account token):

- ``system:admin`` (group ``system:masters``): this fixture's own client, for setup and ``objects``;
- ``system:kube-controller-manager``: the controller manager, which then uses one service account
  per controller (``--use-service-account-credentials``), as a real cluster runs it;
- ``kuberay-operator``: KubeRay's operator, bound to the ClusterRole of its release;
- ``system:node:<node>`` (group ``system:nodes``): the node agent;
- the provider: a token of the ``airflow-kuberay`` service account bound by ``deploy/rbac.yaml``,
  exactly what a user applies, so a missing permission in that file fails a test here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import yaml

from airflow_ray_k8s.testing.realkube import netns
from airflow_ray_k8s.testing.realkube.apiclient import ApiClient, ApiStatusError, ssl_context
from airflow_ray_k8s.testing.realkube.audit import AuditRequests, audit_policy
from airflow_ray_k8s.testing.realkube.binaries import Toolset, checkout_root
from airflow_ray_k8s.testing.realkube.manifests import apply_all, documents, provider_rbac
from airflow_ray_k8s.testing.realkube.pki import Authority
from airflow_ray_k8s.testing.realkube.processes import Child, ChildFailed, reap_leftover_children

log = logging.getLogger(__name__)
T = TypeVar("T")

NODE_NAME = "realkube-node"
PROVIDER_SA = "airflow-kuberay"
AIRFLOW_NAMESPACE = "airflow"
SERVICE_CIDR = "10.96.0.0/16"
# Controllers of kube-controller-manager this setup needs: Services' endpoints, namespaces,
# service accounts and their tokens, garbage collection (KubeRay's owner references), Jobs (the
# submitter of K8sJobMode) and their TTL, terminated-pod GC, DaemonSets (deploy/ray-image-prepull.yaml).
# Scheduling is the node agent's.
CONTROLLERS = (
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "garbage-collector-controller",
    "job-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
    "daemonset-controller",
)
_RESOURCES = {
    "rayclusters": "/apis/ray.io/v1",
    "rayjobs": "/apis/ray.io/v1",
    "rayservices": "/apis/ray.io/v1",
    "pods": "/api/v1",
    "services": "/api/v1",
    "events": "/api/v1",
    "jobs": "/apis/batch/v1",
    "endpointslices": "/apis/discovery.k8s.io/v1",
}


class RealKubeRayUnavailable(RuntimeError):
    """This machine cannot run the real control plane (binaries not built, not root...)."""


def unavailable_reason(toolset: Toolset | None = None) -> str | None:
    """``None`` when :class:`RealKubeRay` can start here, else why not (for a skip message)."""
    missing = (toolset or Toolset.default()).missing()
    if missing:
        return f"the real control plane is not built (run `make real-kuberay`): missing {', '.join(missing)}"
    return netns.available()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig_dict(server: str, ca_pem: bytes, user: dict[str, str], *, namespace: str) -> dict[str, Any]:
    """A kubeconfig with the run's CA inline and one user (a token, or client certificate files)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "realkube",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "realkube", "user": user}],
        "contexts": [
            {
                "name": "realkube",
                "context": {"cluster": "realkube", "user": "realkube", "namespace": namespace},
            }
        ],
        "current-context": "realkube",
        "preferences": {},
    }


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


class RealKubeRay:
    """A throw-away Kubernetes control plane with the real KubeRay operator and a node agent.

    :param workdir: the run folder (certificates, etcd data, logs, pods' folders, kubeconfigs).
    :param toolset: where the binaries and CRDs are (default: ``.tools/realkube``).
    :param jobs_namespace: the namespace the provider's Role is bound in (``deploy/rbac.yaml``).
    :param feature_gates: KubeRay operator feature gates (``{"RayJobDeletionPolicy": True}``).
    :param images: image references, beyond ``rayproject/ray*``, the node agent runs.
    :param image_env: environment the images set in every container, as an image's ``ENV`` does
        (e.g. ``RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S``); a pod's own ``env`` wins.
    :param max_pods: pods the node agent runs at once (``status.allocatable.pods``); each Ray head
        holds ~700 MiB, so this is the node's honest capacity.
    :param image_pull_seconds: the node's modelled pull time of a Ray image it does not hold yet
        (0, the default: every image is present; see :mod:`~airflow_ray_k8s.testing.realkube.imagecache`).
    """

    #: What the tests' ``kuberay.mode`` checks tell apart: ``scripted`` and ``ray`` are the local KubeRay.
    mode = "real"

    def __init__(
        self,
        workdir: Path,
        *,
        toolset: Toolset | None = None,
        jobs_namespace: str = "default",
        feature_gates: dict[str, bool] | None = None,
        images: tuple[str, ...] = (),
        image_env: dict[str, str] | None = None,
        max_pods: int = 8,
        image_pull_seconds: float = 0.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.toolset = toolset or Toolset.default()
        self.jobs_namespace = jobs_namespace
        self.feature_gates = dict(feature_gates or {})
        self.images = images
        self.image_env = dict(image_env or {})
        self.max_pods = max_pods
        self.image_pull_seconds = image_pull_seconds
        self._children: list[Child] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._admin: ApiClient | None = None
        self._agent: Any = None
        self._network: netns.PodNetwork | None = None
        self._kubeconfig: Path | None = None
        self.url = ""
        self._state = "new"
        #: The provider's requests as the API server's audit log recorded them.
        self.requests = AuditRequests(self.workdir / "audit.log")

    def __repr__(self) -> str:  # no token, no key paths' content
        return f"RealKubeRay(url={self.url!r}, state={self._state!r})"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> RealKubeRay:
        """Start everything and wait until the operator and the node are ready."""
        reason = unavailable_reason(self.toolset)
        if reason:
            raise RealKubeRayUnavailable(reason)
        reap_leftover_children()
        netns.reap_leftover_networks()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._state = "starting"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="realkube", daemon=True)
        self._thread.start()
        try:
            self._start_processes()
            self.call(self._asetup(), timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self._state = "running"
        return self

    def _start_processes(self) -> None:
        pki = Authority(self.workdir / "pki")
        self._pki = pki
        etcd_port, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
        self.url = f"https://127.0.0.1:{api_port}"
        serving = pki.issue(
            "apiserver", "kube-apiserver", server=True, hosts=("127.0.0.1", "localhost", "10.96.0.1")
        )
        sa = pki.service_account_keys()
        admin = pki.issue("admin", "system:admin", organization="system:masters")
        kcm = pki.issue("kcm", "system:kube-controller-manager")
        operator = pki.issue("operator", "kuberay-operator")
        node = pki.issue("node", f"system:node:{NODE_NAME}", organization="system:nodes")
        self._certs = {"admin": admin, "node": node}
        bins = self.toolset.binary
        policy = self.workdir / "audit-policy.json"
        policy.write_text(audit_policy([f"system:serviceaccount:{AIRFLOW_NAMESPACE}:{PROVIDER_SA}"]))
        etcd = Child(
            "etcd",
            [
                str(bins("etcd")),
                "--name=realkube",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=realkube=http://127.0.0.1:{etcd_peer}",
                "--listen-metrics-urls=",
                # A test cluster: durability is not the point, fsync on a shared disk is the cost.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            self.workdir,
        )
        self._children.append(etcd.start())
        self._wait_port(etcd, etcd_port)
        apiserver = Child(
            "kube-apiserver",
            [
                str(bins("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={pki.cert}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                # The default 5 minutes would keep the 410-after-compaction path out of reach of a test.
                "--etcd-compaction-interval=30s",
                # The provider's requests, recorded by the server itself (see audit.py).
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.workdir / 'audit.log'}",
                "--audit-log-maxbackup=0",
                "--v=1",
            ],
            self.workdir,
        )
        self._children.append(apiserver.start())
        self._admin_kubeconfig = self._write_cert_kubeconfig("admin.kubeconfig", admin)
        self._kcm_kubeconfig = self._write_cert_kubeconfig("kcm.kubeconfig", kcm)
        self._operator_kubeconfig = self._write_cert_kubeconfig("operator.kubeconfig", operator)
        self._sa = sa

    def _wait_port(self, child: Child, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child.check()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.1)
        raise ChildFailed(f"{child.name} did not listen on {port} within {timeout:.0f}s:\n{child.log_tail()}")

    def _write_cert_kubeconfig(self, name: str, pair: Any, namespace: str = "default") -> Path:
        config = kubeconfig_dict(
            self.url,
            self._pki.cert_pem,
            {"client-certificate": str(pair.cert), "client-key": str(pair.key)},
            namespace=namespace,
        )
        return _write_private(self.workdir / name, yaml.safe_dump(config, sort_keys=False))

    async def _asetup(self) -> None:
        admin_pair = self._certs["admin"]
        self._admin = ApiClient(
            self.url, ssl_context(str(self._pki.cert), str(admin_pair.cert), str(admin_pair.key))
        )
        await self._wait_ready()
        # CRDs of the operator's release, and its ClusterRole (bound to its certificate's user).
        await apply_all(self._admin, [doc for path in self.toolset.crd_files() for doc in documents(path)])
        role = documents(self.toolset.crd_dir / "operator-clusterrole.yaml")[0]
        role["metadata"] = {"name": "kuberay-operator"}
        await apply_all(
            self._admin,
            [
                role,
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "kuberay-operator"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "kuberay-operator",
                    },
                    "subjects": [
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kuberay-operator"}
                    ],
                },
            ],
        )
        await self._wait_crds_established()
        await asyncio.to_thread(self._start_controllers)
        # The provider's identity: deploy/rbac.yaml as a user applies it.
        namespaces = {self.jobs_namespace, AIRFLOW_NAMESPACE} - {"default"}
        await apply_all(
            self._admin,
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                for ns in sorted(namespaces)
            ],
        )
        await apply_all(
            self._admin,
            provider_rbac(
                checkout_root() / "deploy" / "rbac.yaml",
                jobs_namespace=self.jobs_namespace,
                airflow_namespace=AIRFLOW_NAMESPACE,
                service_account=PROVIDER_SA,
            ),
        )
        token = await self._provider_token()
        self._kubeconfig = _write_private(
            self.workdir / "kubeconfig",
            yaml.safe_dump(
                kubeconfig_dict(
                    self.url, self._pki.cert_pem, {"token": token}, namespace=self.jobs_namespace
                ),
                sort_keys=False,
            ),
        )
        from airflow_ray_k8s.testing.realkube.agent import NodeAgent

        node_pair = self._certs["node"]
        self._network = await asyncio.to_thread(netns.PodNetwork().start)
        self._agent = NodeAgent(
            ApiClient(self.url, ssl_context(str(self._pki.cert), str(node_pair.cert), str(node_pair.key))),
            self._admin,
            NODE_NAME,
            self._network,
            self.workdir / "pods",
            images=self.images,
            image_env=self.image_env,
            max_pods=self.max_pods,
            image_pull_seconds=self.image_pull_seconds,
        )
        await self._agent.start()
        await self._wait_default_service_account()

    async def _wait_ready(self, timeout: float = 90.0) -> None:
        assert self._admin is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for child in self._children:
                child.check()
            try:
                status, _, body = await self._admin.request("GET", "/readyz", raw=True)
                if status == 200:
                    return
                last = body.decode(errors="replace")[-500:]
            except OSError as exc:
                last = str(exc)
            await asyncio.sleep(0.25)
        raise ChildFailed(f"kube-apiserver not ready within {timeout:.0f}s: {last}")

    async def _wait_crds_established(self, timeout: float = 30.0) -> None:
        assert self._admin is not None
        deadline = time.monotonic() + timeout
        names = [f"{plural}.ray.io" for plural in ("rayclusters", "rayjobs", "rayservices")]
        while time.monotonic() < deadline:
            done = 0
            for name in names:
                crd = await self._admin.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = {
                    c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []
                }
                done += conditions.get("Established") == "True"
            if done == len(names):
                return
            await asyncio.sleep(0.2)
        raise ChildFailed("KubeRay's CRDs were not Established in time")

    def _start_controllers(self) -> None:
        kcm = Child(
            "kube-controller-manager",
            [
                str(self.toolset.binary("kube-controller-manager")),
                f"--kubeconfig={self._kcm_kubeconfig}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self._sa.key}",
                f"--root-ca-file={self._pki.cert}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--secure-port=0",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            self.workdir,
        )
        self._children.append(kcm.start())
        metrics, probes = _free_port(), _free_port()
        gates = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(self.feature_gates.items()))
        argv = [
            str(self.toolset.binary("kuberay-operator")),
            f"--metrics-addr=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{probes}",
            "--enable-leader-election=false",
            # Outside the cluster the operator cannot reach pod IPs by itself in general: it goes
            # through the API server's service proxy, as the provider does.
            "--use-kubernetes-proxy",
        ]
        if gates:
            argv.append(f"--feature-gates={gates}")
        operator = Child(
            "kuberay-operator", argv, self.workdir, env={"KUBECONFIG": str(self._operator_kubeconfig)}
        )
        self._children.append(operator.start())
        self._wait_healthz(operator, probes)

    def _wait_healthz(self, child: Child, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child.check()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1) as sock,
            ):
                sock.sendall(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
                if b" 200 " in sock.recv(200):
                    return
            time.sleep(0.2)
        raise ChildFailed(f"{child.name} not ready within {timeout:.0f}s:\n{child.log_tail()}")

    async def _provider_token(self) -> str:
        assert self._admin is not None
        answer = await self._admin.create(
            f"/api/v1/namespaces/{AIRFLOW_NAMESPACE}/serviceaccounts/{PROVIDER_SA}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 86400},
            },
        )
        return str(answer["status"]["token"])

    async def _wait_default_service_account(self, timeout: float = 30.0) -> None:
        # Pods name the "default" service account; the ServiceAccount admission plugin refuses a pod
        # until the controller manager created it.
        assert self._admin is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self._admin.get(f"/api/v1/namespaces/{self.jobs_namespace}/serviceaccounts/default")
                return
            except ApiStatusError:
                await asyncio.sleep(0.2)
        raise ChildFailed(f"no default service account in {self.jobs_namespace} after {timeout:.0f}s")

    def stop(self) -> None:
        """Stop the agent (its pods first), the operator, the controller manager, the API server and
        etcd; remove the pod network. Safe to call twice and after a failed start."""
        if self._state == "stopped":
            return
        self._state = "stopping"
        if self._loop is not None and self._loop.is_running():
            with contextlib.suppress(Exception):
                self.call(self._astop(), timeout=120)
        for child in reversed(self._children):
            child.stop()
        self._children.clear()
        if self._network is not None:
            self._network.close()
            self._network = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop.close()
            self._loop = None
        self._state = "stopped"

    async def _astop(self) -> None:
        if self._agent is not None:
            await self._agent.stop()
            self._agent = None
        if self._admin is not None:
            await self._admin.close()

    def __enter__(self) -> RealKubeRay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use --------------------------------------------------------------------------

    @property
    def kubeconfig_path(self) -> Path:
        """The provider's kubeconfig: the run's CA and the ``airflow-kuberay`` service account's token."""
        if self._kubeconfig is None:
            raise RuntimeError("RealKubeRay is not started")
        return self._kubeconfig

    @property
    def admin_kubeconfig_path(self) -> Path:
        """A cluster-admin kubeconfig (client certificate), for kubectl and for tests' own checks."""
        return self._admin_kubeconfig

    def airflow_conn_env(self, conn_id: str = "kuberay_default") -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": ...}``: a ``kuberay`` connection with the provider's kubeconfig."""
        value = json.dumps(
            {
                "conn_type": "kuberay",
                "extra": {"kube_config_path": str(self.kubeconfig_path), "namespace": self.jobs_namespace},
            }
        )
        return {f"AIRFLOW_CONN_{conn_id.upper()}": value}

    def call(self, coro: Awaitable[T] | Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
        """Run a coroutine on the fixture's loop from a test's thread."""
        if self._loop is None:
            raise RuntimeError("RealKubeRay is not running")
        awaitable = coro() if callable(coro) else coro
        future: Future[T] = asyncio.run_coroutine_threadsafe(awaitable, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    @property
    def admin(self) -> ApiClient:
        """The fixture's cluster-admin client (use through :meth:`call`)."""
        if self._admin is None:
            raise RuntimeError("RealKubeRay is not started")
        return self._admin

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The stored objects of a resource (``rayclusters``, ``rayjobs``, ``pods``...), as listed."""
        prefix = _RESOURCES[plural]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
        listing = self.call(self.admin.get(path))
        return list(listing.get("items") or [])

    def set_image_pull_seconds(self, seconds: float) -> None:
        """Change the node's modelled pull time (pods starting from now on use it)."""
        if seconds < 0:
            raise ValueError(f"image_pull_seconds must be >= 0, got {seconds}")

        async def change() -> None:
            self._agent.image_cache.pull_seconds = float(seconds)

        self.call(change())
        self.image_pull_seconds = seconds

    def forget_images(self) -> None:
        """Empty the node's image cache: the next Ray pod pulls again (a cold node)."""

        async def forget() -> None:
            self._agent.image_cache.forget()

        self.call(forget())

    def held_images(self) -> frozenset[str]:
        """The Ray images the node pulled (and holds) under the pull model."""

        async def held() -> frozenset[str]:
            return frozenset(self._agent.image_cache.held())

        return self.call(held())

    def pod_dirs(self) -> list[Path]:
        """The folders of the pods the agent ran (their logs and temp dirs)."""
        root = self.workdir / "pods"
        return sorted(root.iterdir()) if root.is_dir() else []

    @property
    def ray_workdir(self) -> Path:
        """The folder whose ``ray-pgids`` records every container process group (survivor check)."""
        return self.workdir
