"""A small JSON client of the real API server for the fixture and the node agent.

The provider's own ``kube`` layer is what is under test, so the tooling around it talks to the API
server through this separate, deliberately plain client (aiohttp, mutual TLS with a client
certificate). Errors keep the server's ``Status`` body.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp


class ApiStatusError(RuntimeError):
    """A non-2xx answer; ``status`` is the HTTP code and ``body`` the decoded ``Status`` object."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.body = body

    @property
    def reason(self) -> str:
        """The ``Status.reason`` (``NotFound``, ``AlreadyExists``, ``Conflict``...)."""
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


def ssl_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """A client TLS context trusting ``ca`` and presenting ``cert``/``key`` (PEM file paths)."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


_PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class ApiClient:
    """JSON requests to ``server`` with a client certificate.

    :param server: ``https://127.0.0.1:PORT``.
    :param context: the TLS context (see :func:`ssl_context`).
    :param timeout: seconds per request (watches use their own).
    """

    def __init__(self, server: str, context: ssl.SSLContext, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self._context = context
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._context, limit=32))
        return self._session

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        """One request; returns the decoded JSON answer (or ``(status, headers, bytes)`` with ``raw``).

        :raises ApiStatusError: on a non-2xx answer (unless ``raw``).
        """
        session = await self._http()
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        async with session.request(
            method,
            self.server + path,
            data=data,
            params=dict(params or {}),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        ) as resp:
            payload = await resp.read()
            if raw:
                return resp.status, dict(resp.headers), payload
            decoded: Any = json.loads(payload) if payload else {}
            if resp.status >= 300:
                raise ApiStatusError(method, path, resp.status, decoded)
            return decoded

    async def get(self, path: str, **params: str) -> Any:
        """GET ``path``."""
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` to the collection ``path``."""
        return await self.request("POST", path, dict(body))

    async def patch(self, path: str, body: Any, kind: str = "merge") -> Any:
        """PATCH with a ``merge`` (RFC 7386), ``strategic`` or ``json`` (RFC 6902) patch."""
        return await self.request("PATCH", path, body, content_type=_PATCH_TYPES[kind])

    async def delete(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """DELETE ``path`` (with ``DeleteOptions``)."""
        return await self.request("DELETE", path, dict(body) if body is not None else None)

    async def ensure(self, path: str, body: Mapping[str, Any]) -> Any:
        """Create, or leave as is when it already exists (409 AlreadyExists)."""
        try:
            return await self.create(path, body)
        except ApiStatusError as exc:
            if exc.status != 409:
                raise
            return None

    async def watch(
        self, path: str, resource_version: str, *, timeout_seconds: int = 300, **params: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request from ``resource_version`` until the server ends it.

        A 410 Gone arrives as an ``ERROR`` event (as the server sends it); the caller re-lists.
        """
        session = await self._http()
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        async with session.get(
            self.server + path,
            params=query,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30),
        ) as resp:
            if resp.status >= 300:
                raise ApiStatusError("WATCH", path, resp.status, json.loads(await resp.read() or b"{}"))
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


async def informer(client: ApiClient, path: str, **params: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """List then watch ``path`` forever: ``("LIST", {"items": [...]})`` first, then
    ``("ADDED"|"MODIFIED"|"DELETED", object)`` events.

    After a 410 or a dropped stream it lists again and yields another ``LIST``: consumers reconcile
    from the listed set (what they no longer see is gone), as an informer's relist does.
    """
    while True:
        listing = await client.get(path, **params)
        yield "LIST", {"items": listing.get("items") or []}
        version = str(listing["metadata"]["resourceVersion"])
        while True:
            try:
                async for event in client.watch(path, version, **dict[str, Any](params)):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise _Relist()
                    meta = obj.get("metadata") or {}
                    version = str(meta.get("resourceVersion") or version)
                    if kind != "BOOKMARK":
                        yield str(kind), obj
            except _Relist:
                break
            except (aiohttp.ClientError, asyncio.TimeoutError, ApiStatusError):
                await asyncio.sleep(1.0)
                break


class _Relist(Exception):
    pass
