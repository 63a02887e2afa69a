"""The pod network of the node agent: every pod in a network namespace of its own, with a
non-loopback address.

Why: the API server's service and pod proxies refuse loopback and link-local targets
(``IsProxyableIP``), so a Ray head listening on 127.0.0.1 could not be reached through
``/api/v1/namespaces/{ns}/services/{svc}:dashboard/proxy/``. Network namespaces also give every pod
Kubernetes' own port layout (each head on 6379/8265/52365...) without collisions, and keep each
listener off the host's interfaces.

Layout (all created by this module, all removed by :meth:`PodNetwork.close`)::

    host: veth ark<run>h  10.N.0.1/16 ──┐
    netns ark<run>-node:  bridge br0 ────┼── p<k> veth ── netns ark<run>-p<k>: eth0 10.N.x.y/16
                                         └── ...

The host reaches every pod over the connected /16 (no forwarding, no host sysctl changed); pods
reach each other over the bridge. ``ip netns exec`` bind-mounts ``/etc/netns/<name>/hosts`` over
``/etc/hosts`` for the processes it starts, which is how the agent plays cluster DNS.
Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from airflow_ray_k8s.testing.emulator.rayproc import runtime_root

log = logging.getLogger(__name__)

NETNS_ETC = Path("/etc/netns")


class NetworkError(RuntimeError):
    """An ``ip`` command failed; the message carries its stderr."""


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def available() -> str | None:
    """``None`` when pod networks can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip command is missing"
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.N.0.0/16 that no route of the host or of another run uses."""
    used: list[ipaddress.IPv4Network] = []
    with contextlib.suppress(NetworkError, ValueError):
        for route in json.loads(_ip("-j", "route", "show", "table", "all") or "[]"):
            dst = route.get("dst", "")
            if dst and dst != "default":
                with contextlib.suppress(ValueError):
                    network = ipaddress.ip_network(dst, strict=False)
                    if isinstance(network, ipaddress.IPv4Network):
                        used.append(network)
    for _ in range(100):
        candidate = ipaddress.ip_network(f"10.{200 + secrets.randbelow(50)}.0.0/16")
        if not any(candidate.overlaps(net) for net in used if net.version == 4):
            return candidate  # type: ignore[return-value]
    raise NetworkError("no free 10.N.0.0/16 for the pod network")


@dataclass(frozen=True)
class PodNet:
    """One pod's namespace and address."""

    netns: str
    ip: str
    link: str  # the pod's veth end inside the node namespace

    @property
    def etc_dir(self) -> Path:
        """``/etc/netns/<netns>``: files ``ip netns exec`` bind-mounts over ``/etc``."""
        return NETNS_ETC / self.netns

    def exec_prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this pod's network namespace."""
        return ["ip", "netns", "exec", self.netns]


class PodNetwork:
    """The node's bridge and the pods' namespaces of one agent run."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(2)
        self.prefix = f"ark{self.run}"
        self.subnet = _free_subnet()
        hosts = list(self.subnet.hosts())
        self.gateway = str(hosts[0])
        self._free = [str(h) for h in hosts[1:4000]]
        self._pods: dict[str, PodNet] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._record = runtime_root() / f"net-{self.prefix}.rec"
        self.node_ns = f"{self.prefix}-node"

    def start(self) -> PodNetwork:
        """Create the node namespace, its bridge and the host's link to it."""
        runtime_root().mkdir(mode=0o700, exist_ok=True)
        self._record.write_text(f"{self.prefix} {os.getpid()}\n")
        host_link, node_link = f"{self.prefix}h", f"{self.prefix}n"
        _ip("netns", "add", self.node_ns)
        _ip("-n", self.node_ns, "link", "set", "lo", "up")
        _ip("-n", self.node_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.node_ns, "link", "set", "br0", "up")
        _ip("link", "add", host_link, "type", "veth", "peer", "name", node_link, "netns", self.node_ns)
        _ip("-n", self.node_ns, "link", "set", node_link, "master", "br0", "up")
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", host_link)
        _ip("link", "set", host_link, "up")
        log.info("pod network %s on %s (gateway %s)", self.prefix, self.subnet, self.gateway)
        return self

    def add(self, key: str) -> PodNet:
        """A new namespace with an address for the pod ``key`` (its uid)."""
        with self._lock:
            if key in self._pods:
                return self._pods[key]
            self._counter += 1
            ip = self._free.pop(0)
            net = PodNet(netns=f"{self.prefix}-p{self._counter}", ip=ip, link=f"p{self._counter}")
            self._pods[key] = net
        _ip("netns", "add", net.netns)
        _ip(
            "-n",
            self.node_ns,
            "link",
            "add",
            net.link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            net.netns,
        )
        _ip("-n", self.node_ns, "link", "set", net.link, "master", "br0", "up")
        _ip("-n", net.netns, "link", "set", "lo", "up")
        _ip("-n", net.netns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", net.netns, "link", "set", "eth0", "up")
        _ip("-n", net.netns, "route", "add", "default", "via", self.gateway)
        net.etc_dir.mkdir(parents=True, exist_ok=True)
        return net

    def remove(self, key: str) -> None:
        """Delete the pod's namespace (its veth pair goes with it) and its ``/etc/netns`` files."""
        with self._lock:
            net = self._pods.pop(key, None)
        if net is None:
            return
        with contextlib.suppress(NetworkError):
            _ip("netns", "del", net.netns)
        shutil.rmtree(net.etc_dir, ignore_errors=True)
        with self._lock:
            self._free.append(net.ip)

    def pods(self) -> list[PodNet]:
        """The pods' namespaces that exist now."""
        with self._lock:
            return list(self._pods.values())

    def close(self) -> None:
        """Remove every pod namespace, the node namespace (with the bridge and the host link)."""
        for key in list(self._pods):
            self.remove(key)
        _remove_prefixed(self.prefix)
        with contextlib.suppress(OSError):
            self._record.unlink()


def _remove_prefixed(prefix: str) -> None:
    with contextlib.suppress(NetworkError):
        for line in _ip("netns", "list").splitlines():
            name = line.split()[0] if line.strip() else ""
            if name.startswith(f"{prefix}-"):
                with contextlib.suppress(NetworkError):
                    _ip("netns", "del", name)
                shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
    with contextlib.suppress(NetworkError):
        _ip("link", "del", f"{prefix}h")


def reap_leftover_networks() -> list[str]:
    """Remove the pod networks of runs whose owner process is gone."""
    removed: list[str] = []
    root = runtime_root()
    if not root.is_dir() or available() is not None:
        return removed
    for record in root.glob("net-ark*.rec"):
        try:
            prefix, owner_s = record.read_text().split()[:2]
            owner = int(owner_s)
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _remove_prefixed(prefix)
        removed.append(prefix)
        with contextlib.suppress(OSError):
            record.unlink()
    return removed
