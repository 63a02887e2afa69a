"""Fields the API server fills in on create, for the core kinds the emulator serves.

Only what clients read back: a new Pod is ``Pending``; a Service gets a type and a cluster IP
(headless ones keep ``None``); a Namespace is ``Active``.
"""

from __future__ import annotations

import itertools
from typing import Any

from airflow_ray_k8s.resources import NAMESPACE, POD, SERVICE, Resource


class Defaulter:
    """Applies create-time defaults; hands out cluster IPs from 10.96.0.0/16 (the usual service range)."""

    def __init__(self) -> None:
        self._ips = itertools.count(1)

    def _next_ip(self) -> str:
        n = next(self._ips) % 65_534 + 1
        return f"10.96.{n // 256}.{n % 256}"

    def apply(self, res: Resource, obj: dict[str, Any]) -> None:
        """Fill defaults into ``obj`` (a fresh copy owned by the caller) in place."""
        if res == NAMESPACE:
            obj.setdefault("status", {"phase": "Active"})
        elif res == POD:
            obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
        elif res == SERVICE:
            spec = obj.setdefault("spec", {})
            if isinstance(spec, dict):
                spec.setdefault("type", "ClusterIP")
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = self._next_ip()
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
                spec.setdefault("sessionAffinity", "None")
            obj.setdefault("status", {"loadBalancer": {}})
