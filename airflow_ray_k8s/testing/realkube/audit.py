"""What the provider asked of the real API server, read from kube-apiserver's own audit log.

The local KubeRay keeps a request log that tests count (``requests.count("POST", r"/rayjobs$")``
proves "submitted once"). The real server's equivalent is its audit log: the fixture starts
kube-apiserver with a policy that records, at the ``Metadata`` level, every request of the
provider's service account, and :class:`AuditRequests` answers the same questions from it, so the
same assertion holds on both backends without trusting the provider's own account of what it sent.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from airflow_ray_k8s.testing.emulator.faults import LoggedRequest, RequestQueries

# The audit "verb" of a request and the HTTP method that carried it.
_METHODS = {
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
    "get": "GET",
    "list": "GET",
    "watch": "GET",
}


def audit_policy(users: list[str]) -> str:
    """An audit policy recording the requests of ``users`` (one event each, when answered)."""
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived", "ResponseStarted", "Panic"],
        "rules": [{"level": "Metadata", "users": users}, {"level": "None"}],
    }
    return json.dumps(policy)


class AuditRequests(RequestQueries):
    """The audit log as a request log (``filter``/``count``/``clear`` like the local KubeRay's).

    :param path: the log kube-apiserver writes (``--audit-log-path``), one JSON event per line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._lock = threading.Lock()

    def snapshot(self) -> list[LoggedRequest]:
        """The requests recorded since the last :meth:`clear`."""
        with self._lock:
            offset = self._offset
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            lines = handle.read().splitlines()
        requests = []
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # a line being written right now
                continue
            url = urlsplit(event.get("requestURI", ""))
            query = dict(parse_qsl(url.query))
            verb = event.get("verb", "")
            requests.append(
                LoggedRequest(
                    method=_METHODS.get(verb, verb.upper()),
                    path=url.path,
                    query=query,
                    watch=verb == "watch" or query.get("watch") in ("true", "1"),
                )
            )
        return requests

    def clear(self) -> None:
        """Forget what was recorded so far (the log itself is kept for a post-mortem)."""
        with self._lock:
            self._offset = self.path.stat().st_size if self.path.is_file() else 0
