"""The sync transport: sends a :class:`~airflow_ray_k8s.kube.request.KubeRequest` over ``kubernetes``.

Thin on purpose: it goes through ``ApiClient.call_api`` (so the library's authentication, token
refresh and TLS setup apply) with ``_preload_content=False`` (we read and parse the body ourselves,
and the library does not log it) and a client-side ``(connect, read)`` timeout on every call.
Failures become project exceptions through :mod:`~airflow_ray_k8s.kube.errors`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from airflow_ray_k8s.exceptions import ConfigurationError, KubeTimeoutError
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.effects import LineBuffer
from airflow_ray_k8s.kube.errors import error_for_exception, error_for_response
from airflow_ray_k8s.kube.keyfiles import KeyFiles
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

    def __init__(self, request: KubeRequest, raw: Any, read_timeout: float) -> None:
        self._request = request
        self._raw = raw
        self._read_timeout = read_timeout
        self._buffer = LineBuffer()
        self._chunks: Iterator[bytes] = (
            raw.read_chunked(decode_content=True) if raw.chunked else iter(lambda: raw.read1(_CHUNK), b"")
        )
        self._ended = False

    def readline(self, deadline: float | None = None) -> bytes | None:
        """The next line, or ``None`` when the server ended the stream.

        :param deadline: a ``time.monotonic()`` value; no line by then raises ``KubeTimeoutError``.
        """
        while True:
            line = self._buffer.pop()
            if line is not None:
                return line
            if self._ended:
                return self._buffer.rest()
            if deadline is not None:
                self._limit_read(deadline)
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._ended = True
                continue
            except Exception as exc:
                raise error_for_exception(self._request, exc) from exc
            self._buffer.feed(chunk)

    def _limit_read(self, deadline: float) -> None:
        # urllib3's read timeout is per socket read and was fixed when the stream opened; shorten it
        # to the time left, so a quiet (or half-open) stream cannot hold a wait past its deadline.
        left = deadline - time.monotonic()
        if left <= 0:
            raise KubeTimeoutError(f"{self._request.describe()}: no event before the wait's deadline")
        sock = getattr(getattr(self._raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(min(left, self._read_timeout))

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
        self._files = KeyFiles()
        self._lock = threading.Lock()

    @property
    def api_client(self) -> Any:
        """The underlying ``kubernetes.client.ApiClient``."""
        if self._api is None:
            with self._lock:
                if self._api is None:
                    from kubernetes import client

                    from airflow_ray_k8s.kube.loader import client_error, sync_configuration

                    try:
                        cfg = sync_configuration(self.settings, self._files)
                        self._api = client.ApiClient(cfg)
                    except ConfigurationError:
                        self._files.close()
                        raise
                    except Exception as exc:
                        self._files.close()
                        raise client_error(self.settings, exc) from exc
        return self._api

    def _timeout(self, request: KubeRequest) -> tuple[float, float]:
        return request.timeouts(self.settings.connect_timeout, self.settings.request_timeout)

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
        response = KubeResponse(
            raw.status, headers_lower(raw.headers.items()), body or b"", what=request.describe()
        )
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
        return SyncLineStream(request, raw, request.read_timeout or self.settings.request_timeout)

    def close(self) -> None:
        """Release the connection pool and the kubeconfig's certificate / key files."""
        if self._api is not None:
            self._api.close()
            self._api = None
        self._files.close()
