"""Kubernetes Events about pods, as a kubelet records them: one Event per (object, reason,
message), its ``count`` and ``lastTimestamp`` bumped when it repeats (a back-off that keeps
failing is one Event with a growing count, not a flood).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Any

from airflow_ray_k8s.testing.realkube.apiclient import ApiClient, ApiStatusError

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps (seconds, UTC, ``Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes Events for one component.

    :param client: the API client.
    :param component: ``source.component`` (``kubelet``).
    :param host: ``source.host`` (the node's name).
    """

    def __init__(self, client: ApiClient, component: str, host: str) -> None:
        self._client = client
        self._component = component
        self._host = host
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    async def record(
        self,
        pod: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        field_path: str = "",
    ) -> None:
        """Record (or repeat) an Event about ``pod``; failures are logged, never raised."""
        meta = pod["metadata"]
        namespace, uid = meta["namespace"], meta["uid"]
        key = (uid, reason, message, field_path)
        stamp = now_rfc3339()
        try:
            if key in self._seen:
                name, count = self._seen[key]
                await self._client.patch(
                    f"/api/v1/namespaces/{namespace}/events/{name}",
                    {"count": count + 1, "lastTimestamp": stamp},
                )
                self._seen[key] = (name, count + 1)
                return
            name = f"{meta['name']}.{secrets.token_hex(8)}"
            involved = {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": namespace,
                "name": meta["name"],
                "uid": uid,
                "resourceVersion": meta.get("resourceVersion", ""),
            }
            if field_path:
                involved["fieldPath"] = field_path
            await self._client.create(
                f"/api/v1/namespaces/{namespace}/events",
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": "Warning" if warning else "Normal",
                    "source": {"component": self._component, "host": self._host},
                    "reportingComponent": self._component,
                    "reportingInstance": self._host,
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                },
            )
            self._seen[key] = (name, 1)
        except (ApiStatusError, OSError) as exc:  # an Event is best effort, as in a kubelet
            log.debug("event %s on %s/%s not recorded: %s", reason, namespace, meta["name"], exc)

    def forget(self, uid: str) -> None:
        """Drop the counters of a pod that is gone."""
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]
