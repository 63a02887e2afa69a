"""``LocalKubeRay``: the emulated Kubernetes API (and, in some modes, the KubeRay controller) in a
background thread with its own event loop, on ``127.0.0.1`` and a free port.

Usage::

    with LocalKubeRay(mode="api") as kr:
        path = kr.write_kubeconfig(tmp_path / "kubeconfig")
        api = kubernetes.config.new_client_from_config(config_file=str(path))
        ...
        assert kr.requests.count(watch=True) == 1

Modes: ``"api"`` serves the API only; ``"scripted"`` and ``"ray"`` also run
``airflow_ray_k8s.testing.emulator.controller.KubeRayController`` (imported lazily), constructed as
``KubeRayController(store=..., proxies=..., mode=..., workdir=..., **controller_options)``, started
with ``await controller.start()`` when it has one, and stopped with ``await controller.shutdown()``.
The controller uses ``kr.store`` (synchronous methods, on the emulator loop) and ``kr.proxies``.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from aiohttp import web

from airflow_ray_k8s.resources import NAMESPACE, Resource
from airflow_ray_k8s.testing.emulator.api import KubeApi
from airflow_ray_k8s.testing.emulator.crds import default_crd_dir, kuberay_schemas, load_kuberay_crds
from airflow_ray_k8s.testing.emulator.faults import Faults, RequestLog
from airflow_ray_k8s.testing.emulator.kubeconfig import airflow_conn_env, write_kubeconfig
from airflow_ray_k8s.testing.emulator.registry import CORE_RESOURCES, KUBERAY_RESOURCES, ResourceRegistry
from airflow_ray_k8s.testing.emulator.service_proxy import ServiceProxies
from airflow_ray_k8s.testing.emulator.store import ObjectStore

log = logging.getLogger(__name__)

Mode = Literal["api", "scripted", "ray"]
T = TypeVar("T")

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


class LocalKubeRay:
    """A local Kubernetes API with KubeRay's resources, for tests, benchmarks and the demo.

    :param mode: ``"api"`` (API only), ``"scripted"`` (controller with scripted job outcomes, no Ray
        processes) or ``"ray"`` (controller running real Ray heads).
    :param workdir: folder for the kubeconfig and the controller's files; a temporary folder
        (removed on stop) when ``None``.
    :param token: the bearer token the API accepts; random when ``None``.
    :param namespaces: namespaces that exist from the start.
    :param install_crds: serve the ``ray.io/v1`` resources; ``False`` emulates a cluster without KubeRay.
    :param history_size: changes kept for watch resumption (older resourceVersions answer 410).
    :param bookmark_interval: seconds between BOOKMARK events on watches that allow them.
    :param watch_queue_limit: events a watcher may lag behind before its stream is closed.
    :param crd_dir: folder of the real KubeRay CRD manifests (default: see ``crds.default_crd_dir``).
    :param start_timeout: seconds to wait for the API (and controller) to start.
    :param stop_timeout: seconds to wait for the controller to stop its heads and the API to close.
    :param controller_options: passed to the controller's constructor.
    """

    def __init__(
        self,
        mode: Mode = "api",
        workdir: Path | None = None,
        *,
        token: str | None = None,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        install_crds: bool = True,
        history_size: int = 5_000,
        bookmark_interval: float = 10.0,
        watch_queue_limit: int = 10_000,
        crd_dir: Path | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 300.0,
        **controller_options: Any,
    ) -> None:
        if mode not in ("api", "scripted", "ray"):
            raise ValueError(f"mode must be 'api', 'scripted' or 'ray', not {mode!r}")
        self.mode: Mode = mode
        self._own_workdir = workdir is None
        self.workdir = (
            Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="local-kuberay-"))
        )
        self._token = token or secrets.token_urlsafe(24)
        self._namespaces = tuple(namespaces)
        self._crd_dir = crd_dir if crd_dir is not None else default_crd_dir()
        self._bookmark_interval = bookmark_interval
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self.controller_options = controller_options

        served = CORE_RESOURCES + (KUBERAY_RESOURCES if install_crds else ())
        self.registry = ResourceRegistry(served)
        self.store = ObjectStore(
            self.registry, history_size=history_size, watch_queue_limit=watch_queue_limit
        )
        if install_crds:
            self.store.schemas = dict(kuberay_schemas(self._crd_dir))
        self.faults = Faults()
        self.requests = RequestLog()
        self.proxies = ServiceProxies()
        self.controller: Any = None
        self._install_crds = install_crds

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: KubeApi | None = None
        self._runner: web.ServerRunner | None = None
        self._url: str | None = None
        self._kubeconfig: Path | None = None
        self._state = "new"
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __repr__(self) -> str:  # no token here: reprs end up in logs
        return f"LocalKubeRay(mode={self.mode!r}, url={self._url!r}, state={self._state!r})"

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LocalKubeRay:
        """Start the API (and controller) and return once it answers; idempotent."""
        with self._lock:
            if self._state == "running":
                return self
            if self._state != "new":
                raise RuntimeError("a stopped LocalKubeRay cannot be restarted; create a new one")
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._run_loop, name="local-kuberay", daemon=True)
            self._thread.start()
            self._state = "running"
            atexit.register(self.stop)
        try:
            self._submit(self._astart()).result(self._start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _astart(self) -> None:
        self.faults._on_loop = self.call
        self.faults._drop_watches = self._drop_watches
        for name in self._namespaces:
            if self.store.get(NAMESPACE, None, name) is None:
                self.store.create(NAMESPACE, {"metadata": {"name": name}})
        crd_dir = self._crd_dir
        self._api = KubeApi(
            store=self.store,
            faults=self.faults,
            request_log=self.requests,
            proxies=self.proxies,
            token=self._token,
            bookmark_interval=self._bookmark_interval,
            crd_loader=(lambda: load_kuberay_crds(crd_dir)) if self._install_crds else None,
        )
        # Entered so that kmock renders its own errors (discovery 404s) instead of re-raising them.
        await self._api.__aenter__()
        server = web.Server(self._api, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=2.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self._url = f"http://127.0.0.1:{port}"
        if self.mode != "api":
            await self._start_controller()

    async def _start_controller(self) -> None:
        from airflow_ray_k8s.testing.emulator.controller import KubeRayController  # owned by the controller

        self.controller = KubeRayController(
            store=self.store,
            proxies=self.proxies,
            mode=self.mode,
            workdir=self.workdir,
            **self.controller_options,
        )
        start = getattr(self.controller, "start", None)
        if start is not None:
            result = start()
            if inspect.isawaitable(result):
                await result

    def stop(self) -> None:
        """Close watches, stop the controller and the API, end the thread; safe to call twice."""
        if os.getpid() != self._pid:
            # A forked child (Airflow forks task processes) inherits this object and its atexit hook,
            # but not the loop thread: it must neither wait for that loop nor remove the workdir.
            return
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("LocalKubeRay.stop() from the emulator loop itself would deadlock")
        with self._lock:
            if self._state != "running":
                if self._state == "new":
                    self._state = "stopped"
                return
            self._state = "stopping"
        atexit.unregister(self.stop)
        loop, thread = self._loop, self._thread
        try:
            if loop is not None and loop.is_running():
                self._submit(self._astop()).result(self._stop_timeout)
        except Exception:
            log.exception("LocalKubeRay did not stop cleanly")
        finally:
            if loop is not None:
                loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(10)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self._state = "stopped"

    async def _astop(self) -> None:
        if self.controller is not None:
            try:
                await self.controller.shutdown()
            except Exception:
                log.exception("the KubeRay controller failed to shut down")
        if self._api is not None:
            await self._api.close_streams()
        self.store.close()
        await self.proxies.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._api is not None:
            await self._api.__aexit__(None, None, None)
        # Anything the controller left running on this loop is cancelled, not abandoned.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    def __enter__(self) -> LocalKubeRay:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- access -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API's base URL (``http://127.0.0.1:PORT``)."""
        if self._url is None:
            raise RuntimeError("LocalKubeRay is not started")
        return self._url

    @property
    def token(self) -> str:
        """The bearer token the API accepts (keep it out of logs)."""
        return self._token

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig written by :meth:`write_kubeconfig` (written to the workdir on first use)."""
        if self._kubeconfig is None:
            return self.write_kubeconfig()
        return self._kubeconfig

    def write_kubeconfig(self, path: Path | None = None, *, namespace: str = "default") -> Path:
        """Write a kubeconfig (token user, mode 0600) for this API; default ``<workdir>/kubeconfig``."""
        target = Path(path) if path is not None else self.workdir / "kubeconfig"
        write_kubeconfig(target, self.url, self._token, namespace=namespace)
        if self._kubeconfig is None or path is None:
            self._kubeconfig = target
        return target

    def airflow_conn_env(self, conn_id: str = "kuberay_default") -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": ...}``: a ``kuberay`` connection using this API's kubeconfig."""
        return airflow_conn_env(conn_id, self.kubeconfig_path)

    def _submit(self, coro: Awaitable[T]) -> Future[T]:
        if self._loop is None or self._state not in ("running", "stopping"):
            if inspect.iscoroutine(coro):
                coro.close()  # never scheduled: do not leave a "never awaited" warning behind
            raise RuntimeError(f"LocalKubeRay is not running (state {self._state!r})")
        return asyncio.run_coroutine_threadsafe(cast(Any, coro), self._loop)

    def call(self, fn_or_coro: Callable[[], T | Awaitable[T]] | Awaitable[T], timeout: float = 60.0) -> T:
        """Run a callable or a coroutine on the emulator loop and return its result (thread-safe).

        :param fn_or_coro: a coroutine, or a callable whose result is awaited if awaitable.
        :param timeout: seconds to wait for the result.
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("LocalKubeRay.call() from the emulator loop itself would deadlock")
        if self._state not in ("running", "stopping") and inspect.iscoroutine(fn_or_coro):
            fn_or_coro.close()  # it will never run: no "never awaited" warning

        async def run() -> T:
            if inspect.isawaitable(fn_or_coro):
                return await fn_or_coro
            assert callable(fn_or_coro)
            result = fn_or_coro()
            if inspect.isawaitable(result):
                return await result
            return result

        return self._submit(run()).result(timeout)

    def objects(self, resource: Resource | str, namespace: str | None = None) -> list[dict[str, Any]]:
        """A snapshot (copies) of the objects of a resource (a ``Resource`` or its plural)."""
        res = self._resource(resource)
        return self.call(lambda: self.store.list(res, namespace))

    def _resource(self, resource: Resource | str) -> Resource:
        if isinstance(resource, Resource):
            return resource
        for served in self.registry:
            if resource in (served.ref.plural, served.ref.kind, f"{served.ref.plural}.{served.ref.group}"):
                return served.ref
        raise KeyError(f"not a served resource: {resource!r}")

    def _drop_watches(self, plural: str | None, abort: bool) -> int:
        res = self._resource(plural) if plural else None
        return self.store.close_watchers(res, abort=abort)


__all__ = ["DEFAULT_NAMESPACES", "LocalKubeRay"]
