"""The API server's service proxy: ``/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy/{path}``.

The controller registers where each head's ports really listen (``register``); a request on the
proxy path is forwarded there with aiohttp, so the provider reaches a Ray dashboard exactly as it
would through a real API server. The client's ``Authorization`` header is for the API server and is
never forwarded.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from airflow_ray_k8s.testing.emulator.errors import ApiError

# Headers that belong to one connection, not to the request (RFC 9110 section 7.6.1), plus the
# ones the proxy must set itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
    }
)


def parse_service_ref(ref: str) -> tuple[str, str, str | None]:
    """Split the ``[scheme:]name[:port]`` segment of a proxy URL into ``(scheme, name, port)``."""
    parts = ref.split(":")
    if len(parts) == 3:
        return parts[0] or "http", parts[1], parts[2] or None
    if len(parts) == 2:
        return "http", parts[0], parts[1] or None
    return "http", parts[0], None


class ServiceProxies:
    """Where the service proxy forwards to, registered by the controller (thread-safe).

    A target can be registered by port name (``dashboard``) or number (``8265``); a request by the
    other form is matched through the Service object's ``spec.ports``.
    """

    def __init__(self) -> None:
        self._targets: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None

    def register(self, namespace: str, service: str, port: str | int, target_base_url: str) -> None:
        """Forward ``{service}:{port}`` in ``namespace`` to ``target_base_url`` (``http://127.0.0.1:8265``).

        :param namespace: the Service's namespace.
        :param service: the Service's name.
        :param port: the port name or number as clients write it in the proxy URL.
        :param target_base_url: where that port really listens.
        """
        with self._lock:
            self._targets.setdefault((namespace, service), {})[str(port)] = target_base_url.rstrip("/")

    def replace(self, namespace: str, service: str, targets: Mapping[str | int, str]) -> None:
        """Point every port of a service elsewhere in one step (a RayService switching clusters: a
        request then goes to the old target or to the new one, never to none)."""
        with self._lock:
            self._targets[(namespace, service)] = {str(p): url.rstrip("/") for p, url in targets.items()}

    def unregister(self, namespace: str, service: str) -> None:
        """Forget every port of a service (its head stopped)."""
        with self._lock:
            self._targets.pop((namespace, service), None)

    def targets(self, namespace: str, service: str) -> dict[str, str]:
        """The registered ports of one service (a copy)."""
        with self._lock:
            return dict(self._targets.get((namespace, service), {}))

    def resolve(
        self, namespace: str, service: str, port: str | None, service_obj: Mapping[str, Any] | None = None
    ) -> str | None:
        """The target base URL for a proxy request, or ``None`` when the service has no endpoint."""
        targets = self.targets(namespace, service)
        if not targets:
            return None
        if port is None:
            return next(iter(targets.values())) if len(targets) == 1 else None
        if port in targets:
            return targets[port]
        for spec_port in (service_obj or {}).get("spec", {}).get("ports") or []:
            name, number = str(spec_port.get("name", "")), str(spec_port.get("port", ""))
            if port in (name, number):
                for alias in (name, number):
                    if alias and alias in targets:
                        return targets[alias]
        return None

    async def forward(self, request: web.BaseRequest, target: str, tail: str) -> web.StreamResponse:
        """Forward ``request`` to ``target + tail`` and stream the answer back."""
        if self._session is None:
            # Long reads are normal here (log tails); only connecting has a short deadline.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600)
            self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        url = target + (tail or "/")
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise ApiError(503, f"error trying to reach service: {type(exc).__name__}") from None
        try:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(65536):
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            upstream.release()

    async def close(self) -> None:
        """Close the forwarding session (on the emulator loop)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
