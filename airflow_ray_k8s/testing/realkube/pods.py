"""One pod on the node agent, run as a kubelet runs it: a sandbox (network namespace, address,
hosts file), image checks, init containers in order, the containers with their restart policy and
probes, and the pod's status written back to the API server; graceful termination on deletion.

The pod's status is written by this runner alone (a merge patch of ``pods/<name>/status`` holding
the whole status), so there is never a second writer to race with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import Any

from airflow_ray_k8s.testing.emulator.rayproc import runtime_root
from airflow_ray_k8s.testing.realkube.apiclient import ApiClient, ApiStatusError
from airflow_ray_k8s.testing.realkube.containers import (
    ContainerProcess,
    EnvError,
    command_line,
    container_env,
    image_env,
    kill_pod_leftovers,
    run_as_prefix,
)
from airflow_ray_k8s.testing.realkube.events import EventRecorder, now_rfc3339
from airflow_ray_k8s.testing.realkube.imagecache import ImageCache, go_duration
from airflow_ray_k8s.testing.realkube.images import PAUSE_UID, ImagePolicy
from airflow_ray_k8s.testing.realkube.netns import PodNet, PodNetwork
from airflow_ray_k8s.testing.realkube.probes import ProbeLoop, run_once

log = logging.getLogger(__name__)

# A kubelet's back-off between restarts of a crashing container: 10 s doubling to 5 minutes.
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
IMAGE_RETRY = 10.0


class PodRunner:
    """Runs one pod bound to this node until it ends or is deleted.

    :param pod: the pod as first seen (bound to this node).
    :param client: the node's API client.
    :param network: the node's pod network.
    :param logs_root: where the pod's folder (container logs) goes.
    :param images: which images the node has.
    :param events: the kubelet's event recorder.
    :param hosts: a callable returning the cluster DNS lines for the hosts file.
    :param registry_dir: the folder whose ``ray-pgids`` records every container group.
    :param cache: the node's image store (its modelled pulls).
    """

    def __init__(
        self,
        pod: dict[str, Any],
        client: ApiClient,
        network: PodNetwork,
        logs_root: Path,
        images: ImagePolicy,
        events: EventRecorder,
        hosts: Any,
        registry_dir: Path,
        cache: ImageCache,
    ) -> None:
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.name, self.namespace = meta["uid"], meta["name"], meta["namespace"]
        self._client = client
        self._network = network
        self._images = images
        self._events = events
        self._hosts = hosts
        self._registry = registry_dir
        self._cache = cache
        self.dir = logs_root / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        # Ray keeps unix sockets under its temp dir: paths must stay under 107 bytes, so the temp
        # dirs live in the short per-user runtime folder, not in the (long) test folder.
        self.temp_root = runtime_root() / f"p{secrets.token_hex(4)}"
        self.net: PodNet | None = None
        self.status: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._deleted = asyncio.Event()
        self._processes: dict[str, ContainerProcess] = {}
        self._ready: dict[str, bool] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        self._init_statuses: dict[str, dict[str, Any]] = {}
        self._write_lock = asyncio.Lock()
        self.finished = asyncio.Event()

    # --- driving ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start running the pod in the background."""
        self._task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")

    def update(self, pod: dict[str, Any]) -> None:
        """A newer version of the pod was seen; a deletion timestamp starts termination."""
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self._deleted.set()

    def gone(self) -> None:
        """The pod object was removed from the API (force deletion): stop everything."""
        self._deleted.set()

    async def _run(self) -> None:
        try:
            main = asyncio.create_task(self._lifecycle())
            deleted = asyncio.create_task(self._deleted.wait())
            await asyncio.wait({main, deleted}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await main
            else:
                deleted.cancel()
                if main.exception() is not None:
                    log.error("pod %s/%s: %r", self.namespace, self.name, main.exception())
                await self._deleted.wait()  # a finished pod stays until it is deleted
            await self._terminate()
        finally:
            self.finished.set()

    async def _terminate(self) -> None:
        grace = float(self.pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        await asyncio.gather(*(proc.stop(grace) for proc in self._processes.values()), return_exceptions=True)
        await self._teardown_sandbox()
        self._events.forget(self.uid)
        # The kubelet's last word: remove the object now that nothing of it runs (uid-guarded, so a
        # new pod of the same name is never deleted by mistake).
        with contextlib.suppress(ApiStatusError, OSError):
            await self._client.delete(
                f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
            )

    async def _teardown_sandbox(self) -> None:
        await kill_pod_leftovers(self.temp_root)
        if self.net is not None:
            await asyncio.to_thread(self._network.remove, self.uid)
            self.net = None

    # --- the lifecycle ---------------------------------------------------------------------------

    async def _lifecycle(self) -> None:
        spec = self.pod["spec"]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.net = await asyncio.to_thread(self._network.add, self.uid)
        self.write_hosts()
        containers, inits = spec.get("containers") or [], spec.get("initContainers") or []
        self.status = {
            "phase": "Pending",
            "hostIP": self._network.gateway,
            "hostIPs": [{"ip": self._network.gateway}],
            "podIP": self.net.ip,
            "podIPs": [{"ip": self.net.ip}],
            "startTime": now_rfc3339(),
            "qosClass": _qos(containers),
        }
        self._conditions = {
            "PodScheduled": "True",
            "PodReadyToStartContainers": "True",
            "Initialized": "False" if inits else "True",
            "ContainersReady": "False",
            "Ready": "False",
        }
        for container in inits:
            self._init_statuses[container["name"]] = _waiting(container, "PodInitializing")
        for container in containers:
            self._statuses[container["name"]] = _waiting(
                container, "PodInitializing" if inits else "ContainerCreating"
            )
        await self._write()
        for container in [*inits, *containers]:
            await self._pull(container)
        policy = spec.get("restartPolicy", "Always")
        for container in inits:
            if not await self._run_init(container, policy):
                return
        self._conditions["Initialized"] = "True"
        for container in containers:
            self._statuses[container["name"]] = _waiting(container, "ContainerCreating")
        await self._write()
        await asyncio.gather(*(self._run_container(c, policy) for c in containers))
        await self._settle_phase(containers)

    async def _pull(self, container: dict[str, Any]) -> None:
        """Wait until the container's image is on the node, with the kubelet's events: ``already
        present on machine``, or ``Pulling`` and ``Successfully pulled ... in Xs`` after the node's
        modelled pull (:mod:`~airflow_ray_k8s.testing.realkube.imagecache`). An image the node
        cannot run keeps the pod Pending in ``ErrImagePull``/``ImagePullBackOff``, forever."""
        image = str(container.get("image") or "")
        field = f"spec.containers{{{container['name']}}}"
        if self._images.available(image):
            if self._cache.present(image):
                await self._events.record(
                    self.pod,
                    "Pulled",
                    f'Container image "{image}" already present on machine',
                    field_path=field,
                )
                return
            await self._events.record(self.pod, "Pulling", f'Pulling image "{image}"', field_path=field)
            pull = await self._cache.pull(image)
            message = (
                f'Successfully pulled image "{image}" in {go_duration(pull.seconds)} '
                f"({go_duration(pull.waited)} including waiting). "
                f"Image size: {self._cache.image_bytes} bytes."
            )
            await self._events.record(self.pod, "Pulled", message, field_path=field)
            return
        await self._events.record(self.pod, "Pulling", f'Pulling image "{image}"', field_path=field)
        delay = IMAGE_RETRY
        while True:
            message = self._images.pull_error(image)
            self._set_waiting(container, "ErrImagePull", message)
            await self._write()
            await self._events.record(self.pod, "Failed", message, warning=True, field_path=field)
            await self._events.record(
                self.pod, "Failed", "Error: ErrImagePull", warning=True, field_path=field
            )
            await asyncio.sleep(1.0)
            self._set_waiting(container, "ImagePullBackOff", f'Back-off pulling image "{image}"')
            await self._write()
            await self._events.record(
                self.pod, "BackOff", f'Back-off pulling image "{image}"', warning=True, field_path=field
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _crash_loop(self, entry: dict[str, Any], backoff: float) -> None:
        """A failed container waiting ``backoff`` seconds for its restart, as the kubelet shows it."""
        entry["restartCount"] = entry.get("restartCount", 0) + 1
        entry["lastState"] = entry.pop("state")
        message = f"back-off {backoff:.0f}s restarting failed container={entry['name']} pod={self.name}"
        entry["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}

    def _set_waiting(self, container: dict[str, Any], reason: str, message: str) -> None:
        table = self._init_statuses if container["name"] in self._init_statuses else self._statuses
        entry = table[container["name"]]
        entry["state"] = {"waiting": {"reason": reason, "message": message}}

    async def _spawn(self, container: dict[str, Any]) -> ContainerProcess | None:
        assert self.net is not None
        base = {**image_env(self.temp_root, self.name), **self._images.env}
        image = str(container.get("image") or "")
        entrypoint = self._images.entrypoint(image)
        try:
            env = await container_env({**self.pod, "status": self.status}, container, self._lookup, base)
            # An image whose stand-in needs no files of this machine (the pause image) runs as its
            # securityContext says; the Ray stand-ins run as the agent's user whatever it says,
            # since the virtualenv and the pod's folders are the agent's.
            user = run_as_prefix(self.pod["spec"], container, PAUSE_UID) if entrypoint is not None else []
        except EnvError as exc:
            self._set_waiting(container, "CreateContainerConfigError", str(exc))
            await self._write()
            await self._events.record(self.pod, "Failed", f"Error: {exc}", warning=True)
            return None
        argv = ["ip", "netns", "exec", self.net.netns, *user, *command_line(container, env, entrypoint)]
        proc = ContainerProcess(
            container["name"],
            argv,
            env,
            cwd=self.temp_root / "cwd",
            log_path=self.dir / f"{container['name']}.log",
            temp_dir=self.temp_root / "tmp",
            registry_dirs=[self._registry],
        )
        try:
            await proc.start()
        except OSError as exc:
            self._set_waiting(container, "RunContainerError", str(exc))
            await self._write()
            return None
        self._processes[container["name"]] = proc
        proc.started_at = now_rfc3339()
        await self._events.record(
            self.pod,
            "Started",
            f"Started container {container['name']}",
            field_path=f"spec.containers{{{container['name']}}}",
        )
        return proc

    async def _run_init(self, container: dict[str, Any], policy: str) -> bool:
        """Run one init container to success (restarting it unless the policy is Never)."""
        name, backoff = container["name"], BACKOFF_START
        entry = self._init_statuses[name]
        while True:
            proc = await self._spawn(container)
            if proc is None:
                await asyncio.sleep(backoff)
                continue
            entry.update(state={"running": {"startedAt": proc.started_at}}, started=True)
            await self._write()
            code = await proc.wait()
            entry.update(state=_terminated(code, proc.started_at), started=False)
            if code == 0:
                entry["ready"] = True
                await self._write()
                return True
            if policy == "Never":
                self.status["phase"] = "Failed"
                await self._write()
                return False
            self._crash_loop(entry, backoff)
            await self._write()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _run_container(self, container: dict[str, Any], policy: str) -> None:
        """Run one container, restarting it per the pod's restart policy, with its probes."""
        name, backoff = container["name"], BACKOFF_START
        entry = self._statuses[name]
        while True:
            proc = await self._spawn(container)
            if proc is None:
                await asyncio.sleep(backoff)
                continue
            entry.update(state={"running": {"startedAt": proc.started_at}}, started=True, ready=False)
            self._ready[name] = "readinessProbe" not in container
            await self._refresh_ready()
            probes = self._probe_tasks(container, proc)
            try:
                code = await proc.wait()
            finally:
                for task in probes:
                    task.cancel()
            self._ready[name] = False
            entry.update(state=_terminated(code, proc.started_at), started=False, ready=False)
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if not restart:
                await self._refresh_ready()
                return
            self._crash_loop(entry, backoff)
            await self._refresh_ready()
            await self._events.record(
                self.pod,
                "BackOff",
                "Back-off restarting failed container",
                warning=True,
                field_path=f"spec.containers{{{name}}}",
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _probe_tasks(self, container: dict[str, Any], proc: ContainerProcess) -> list[asyncio.Task[None]]:
        assert self.net is not None
        net, name = self.net, container["name"]

        def attempt(probe: dict[str, Any]) -> Any:
            return lambda: run_once(probe, container, net.ip, net.exec_prefix(), proc.env)

        async def readiness(ok: bool) -> None:
            self._ready[name] = ok
            await self._refresh_ready()

        async def liveness(ok: bool) -> None:
            if not ok:
                await self._events.record(
                    self.pod,
                    "Unhealthy",
                    "Liveness probe failed",
                    warning=True,
                    field_path=f"spec.containers{{{name}}}",
                )
                await proc.stop(float(self.pod["spec"].get("terminationGracePeriodSeconds") or 30))

        tasks = []
        if "readinessProbe" in container:
            loop = ProbeLoop(
                container["readinessProbe"], attempt(container["readinessProbe"]), readiness, initial=False
            )
            tasks.append(asyncio.create_task(loop.run()))
        if "livenessProbe" in container:
            loop = ProbeLoop(
                container["livenessProbe"], attempt(container["livenessProbe"]), liveness, initial=True
            )
            tasks.append(asyncio.create_task(loop.run()))
        return tasks

    async def _refresh_ready(self) -> None:
        for name, entry in self._statuses.items():
            entry["ready"] = bool(self._ready.get(name)) and "running" in entry.get("state", {})
        all_ready = all(entry["ready"] for entry in self._statuses.values())
        self._conditions["ContainersReady"] = self._conditions["Ready"] = "True" if all_ready else "False"
        if any("running" in entry.get("state", {}) for entry in self._statuses.values()):
            self.status["phase"] = "Running"
        await self._write()

    async def _settle_phase(self, containers: list[dict[str, Any]]) -> None:
        codes = [
            self._statuses[c["name"]]["state"].get("terminated", {}).get("exitCode", 1) for c in containers
        ]
        self.status["phase"] = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        self._conditions["ContainersReady"] = self._conditions["Ready"] = "False"
        self._conditions["PodReadyToStartContainers"] = "False"
        await self._write()
        # A terminal pod keeps its object (Jobs read it) but not its sandbox.
        await self._teardown_sandbox()

    # --- API side --------------------------------------------------------------------------------

    async def _lookup(
        self, kind: str, namespace: str, name: str, optional: bool = False
    ) -> dict[str, str] | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        try:
            obj = await self._client.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            import base64

            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return data

    async def _write(self) -> None:
        """Send the whole status (single writer: no conflict handling needed beyond a gone pod)."""
        stamp = now_rfc3339()
        conditions = []
        previous = {c["type"]: c for c in self.status.get("conditions") or []}
        for kind, value in self._conditions.items():
            before = previous.get(kind)
            since = stamp if before is None or before["status"] != value else before["lastTransitionTime"]
            conditions.append(
                {
                    "type": kind,
                    "status": value,
                    "lastProbeTime": None,
                    "lastTransitionTime": since,
                }
            )
        self.status["conditions"] = conditions
        if self._init_statuses:
            self.status["initContainerStatuses"] = list(self._init_statuses.values())
        self.status["containerStatuses"] = list(self._statuses.values())
        async with self._write_lock:
            try:
                await self._client.patch(
                    f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status", {"status": self.status}
                )
            except ApiStatusError as exc:
                if exc.status != 404:
                    log.warning("pod %s/%s status not written: %s", self.namespace, self.name, exc)

    def write_hosts(self) -> None:
        """Write the pod's ``/etc/hosts`` in place (``ip netns exec`` bind-mounts this very inode)."""
        if self.net is None:
            return
        spec = self.pod["spec"]
        hostname = spec.get("hostname") or self.name
        lines = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            f"{self.net.ip}\t{hostname}",
        ]
        lines += self._hosts(self.namespace)
        path = self.net.etc_dir / "hosts"
        with open(path, "a+") as handle:
            handle.seek(0)
            handle.truncate()
            handle.write("\n".join(lines) + "\n")


def _waiting(container: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": reason}},
    }


def _terminated(code: int, started_at: str) -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started_at,
            "finishedAt": now_rfc3339(),
        }
    }


def _qos(containers: list[dict[str, Any]]) -> str:
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits")
        and all((r.get("requests") or r["limits"]).get(k) == v for k, v in r["limits"].items())
        and {"cpu", "memory"} <= set(r["limits"])
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"
