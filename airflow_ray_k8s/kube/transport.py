"""The sync transport: sends a :class:`~airflow_ray_k8s.kube.request.KubeRequest` over ``kubernetes``.

Thin on purpose: it goes through ``ApiClient.call_api`` (so the library's authentication, token
refresh and TLS setup apply) with ``_preload_content=False`` (we read and parse the body ourselves,
and the library does not log it) and a client-side ``(connect, read)`` timeout on every call.
Failures become project exceptions through :mod:`~airflow_ray_k8s.kube.errors`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.effects import LineBuffer
from airflow_ray_k8s.kube.errors import error_for_exception, error_for_response
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse, headers_lower

_CHUNK = 64 * 1024


def call_kwargs(request: KubeRequest, settings: ConnectionSettings) -> dict[str, Any]:
    """Keyword arguments of ``ApiClient.call_api`` for ``request`` (shared by both transports)."""
    headers = {"Accept": "application/json", **dict(request.headers)}
    if request.body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    return {
        "resource_path": request.path,
        "method": request.method,
        "query_params": list(request.query),
        "header_params": headers,
        "body": request.body,
        # A direct dashboard URL must not receive the cluster's credentials.
        "auth_settings": [] if request.base_url else ["BearerToken"],
        "_host": request.base_url.rstrip("/") if request.base_url else None,
        "_preload_content": False,
        "_return_http_data_only": True,
        "response_types_map": {},
    }


class SyncLineStream:
    """An open watch answer, read line by line."""

    def __init__(self, request: KubeRequest, raw: Any) -> None:
        self._request = request
        self._raw = raw
        self._buffer = LineBuffer()
        self._chunks: Iterator[bytes] = (
            raw.read_chunked(decode_content=True) if raw.chunked else iter(lambda: raw.read1(_CHUNK), b"")
        )
        self._ended = False

    def readline(self) -> bytes | None:
        """The next line, or ``None`` when the server ended the stream."""
        while True:
            line = self._buffer.pop()
            if line is not None:
                return line
            if self._ended:
                return self._buffer.rest()
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._ended = True
                continue
            except Exception as exc:
                raise error_for_exception(self._request, exc) from exc
            self._buffer.feed(chunk)

    def close(self) -> None:
        """Drop the connection (a half-read stream cannot go back to the pool)."""
        try:
            self._raw.close()
            self._raw.release_conn()
        except Exception:  # noqa: S110  -- closing a broken socket may fail; nothing to do about it
            pass


class SyncTransport:
    """Send requests with a ``kubernetes.client.ApiClient``, created on first use.

    :param settings: the connection settings (timeouts, credentials).
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._api: Any = None
        self._lock = threading.Lock()

    @property
    def api_client(self) -> Any:
        """The underlying ``kubernetes.client.ApiClient``."""
        if self._api is None:
            with self._lock:
                if self._api is None:
                    from kubernetes import client

                    from airflow_ray_k8s.kube.loader import client_error, sync_configuration

                    cfg = sync_configuration(self.settings)
                    try:
                        self._api = client.ApiClient(cfg)
                    except Exception as exc:
                        raise client_error(self.settings, exc) from exc
        return self._api

    def _timeout(self, request: KubeRequest) -> tuple[float, float]:
        return (self.settings.connect_timeout, request.read_timeout or self.settings.request_timeout)

    def _call(self, request: KubeRequest) -> Any:
        api = self.api_client
        try:
            return api.call_api(
                **call_kwargs(request, self.settings), _request_timeout=self._timeout(request)
            )
        except Exception as exc:
            raise error_for_exception(request, exc) from exc

    def send(self, request: KubeRequest) -> KubeResponse:
        """Send one request and read the whole answer; non-2xx raises."""
        raw = self._call(request)
        try:
            body = raw.data
        except Exception as exc:
            raise error_for_exception(request, exc) from exc
        finally:
            raw.release_conn()
        response = KubeResponse(raw.status, headers_lower(raw.headers.items()), body or b"")
        if not response.ok:
            raise error_for_response(request, response)
        return response

    def open(self, request: KubeRequest) -> SyncLineStream:
        """Send a request and return its answer as a line stream; non-2xx raises."""
        raw = self._call(request)
        if not 200 <= raw.status < 300:
            try:
                body = raw.data
            except Exception:
                body = b""
            finally:
                raw.release_conn()
            raise error_for_response(
                request, KubeResponse(raw.status, headers_lower(raw.headers.items()), body)
            )
        return SyncLineStream(request, raw)

    def close(self) -> None:
        """Release the connection pool."""
        if self._api is not None:
            self._api.close()
            self._api = None
