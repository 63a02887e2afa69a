"""The HTTP face of the emulated Kubernetes API: kmock's scaffold plus the object store.

kmock 0.8's ``KubernetesScaffold`` (the stateless base of its ``KubernetesEmulator``) still serves
what it does well: API discovery (``/api``, ``/apis``, ``/apis/{group}/{version}``, ``/version``)
and its request DSL for anything that is not an object URL. Object URLs (collections, objects,
subresources, watches, the service proxy) are parsed and served here, on top of
:class:`~airflow_ray_k8s.testing.emulator.store.ObjectStore`, because kmock's own object store
answers create with 200, has no resourceVersion/uid/generation, ignores selectors, PUT and watch
timeouts, parses ``watch=True`` as a list and scans every object per request and per event.

Every request passes, in order: the request log, the bearer-token check, fault injection, RBAC
denials configured by the test, then the handler.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from kmock import KubernetesScaffold, ResourceInfo
from kmock import resource as kmock_resource

from airflow_ray_k8s.resources import CRD, Resource
from airflow_ray_k8s.testing.emulator import errors
from airflow_ray_k8s.testing.emulator.errors import ApiError
from airflow_ray_k8s.testing.emulator.faults import DROP, Faults, LoggedRequest, RequestLog
from airflow_ray_k8s.testing.emulator.patching import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from airflow_ray_k8s.testing.emulator.registry import (
    KUBERAY_RESOURCES,
    SELF_SUBJECT_ACCESS_REVIEW,
    ServedResource,
)
from airflow_ray_k8s.testing.emulator.schema import FIELD_VALIDATION, WARNINGS
from airflow_ray_k8s.testing.emulator.selectors import FieldSelector, LabelSelector, SelectorError
from airflow_ray_k8s.testing.emulator.service_proxy import ServiceProxies, parse_service_ref
from airflow_ray_k8s.testing.emulator.store import ObjectStore
from airflow_ray_k8s.testing.emulator.watchers import BOOKMARK, ERROR, Watcher

log = logging.getLogger(__name__)

_JSON = "application/json"
_TRUE = ("true", "1")
# The API server closes an open watch after a random 30-60 min; clients re-watch.
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Target:
    """An object URL, parsed.

    :param served: the resource (``None`` when the URL names a resource that is not served).
    :param namespace: the namespace segment, if any.
    :param name: the object name, if any.
    :param subresource: the subresource path after the name, if any.
    :param watch: the legacy ``/watch/`` URL prefix was used.
    """

    served: ServedResource | None
    namespace: str | None
    name: str | None
    subresource: str | None
    watch: bool = False


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type=_JSON
    )


def _error_response(exc: ApiError) -> web.Response:
    response = _json_response(exc.to_status(), exc.code)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(int(exc.retry_after))
    return response


def _flag(query: Any, key: str) -> bool:
    return str(query.get(key, "")).lower() in _TRUE


def _watch_line(type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": type, "object": obj}, separators=(",", ":")).encode() + b"\n"


class KubeApi(KubernetesScaffold):  # type: ignore[misc]
    """The request handler of the emulated API (an aiohttp low-level handler).

    :param store: the object store.
    :param faults: fault injection settings.
    :param request_log: where requests are logged.
    :param proxies: service proxy targets.
    :param token: the bearer token clients must send; ``None`` disables the check.
    :param bookmark_interval: seconds between BOOKMARK events on watches that allow them.
    :param crd_loader: returns the CRD objects to serve; called on first use (loading is slow).
    """

    def __init__(
        self,
        *,
        store: ObjectStore,
        faults: Faults,
        request_log: RequestLog,
        proxies: ServiceProxies,
        token: str | None,
        bookmark_interval: float = 10.0,
        crd_loader: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.faults = faults
        self.request_log = request_log
        self.proxies = proxies
        self._token = token
        self.bookmark_interval = bookmark_interval
        self._crd_loader = crd_loader
        self._crds_loaded: asyncio.Future[None] | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self.refresh_discovery()

    def refresh_discovery(self) -> None:
        """Publish the store's served resources to kmock's discovery endpoints."""
        for key in list(self.resources):
            del self.resources[key]
        for served in self.store.registry:
            ref = served.ref
            self.resources[kmock_resource(ref.group, ref.version, ref.plural)] = ResourceInfo(
                namespaced=ref.namespaced,
                kind=ref.kind,
                singular=served.singular,
                verbs=set(served.verbs),
                shortnames=set(served.short_names),
                subresources=set(served.subresources),
            )

    # --- entry point --------------------------------------------------------------------------------

    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        target = self._parse_target(raw.path)
        watch = raw.method == "GET" and (_flag(raw.query, "watch") or (target is not None and target.watch))
        self.request_log.append(LoggedRequest(raw.method, raw.path, dict(raw.query), watch))
        try:
            self._authenticate(raw)
            rule = self.faults.pick(raw.method, raw.path, watch)
            if rule is not None:
                if rule.status == DROP:
                    return self._drop(raw)
                raise ApiError(rule.status, f"injected fault ({rule.status})", retry_after=rule.retry_after)
            proxy = self._parse_proxy(raw.raw_path)
            if proxy is not None:
                return await self._serve_proxy(raw, *proxy)
            if target is None:
                # Discovery and anything else kmock knows (including reactions a test added).
                # Clients ask for "/apis/" as well as "/apis"; kmock's routes have no slash.
                if len(raw.path) > 1 and raw.path.endswith("/"):
                    raw = raw.clone(rel_url=raw.rel_url.with_path(raw.path.rstrip("/")))
                response: web.StreamResponse = await super().__call__(raw)
                # kmock keeps every request it served; discovery is all it serves here, keep it short.
                del self._requests[:-100]
                return response
            return await self._serve_checked(raw, target, watch)
        except ApiError as exc:
            return _error_response(exc)
        except Exception:
            log.exception("emulated API failed on %s %s", raw.method, raw.path)
            return _error_response(ApiError(500, "internal error in the emulated API (see its log)"))

    async def _render_error(self, exc: Exception) -> web.StreamResponse:
        # kmock's scaffold puts a traceback into Status.details; a Status like the API server's is enough.
        code = getattr(exc, "status", 500)
        return _error_response(ApiError(code, getattr(exc, "message", None) or type(exc).__name__))

    async def _serve_version(self, request: Any) -> Any:
        # kmock 0.8 writes the core group's groupVersion as "/v1"; the API server writes "v1".
        body = await super()._serve_version(request)
        if isinstance(body, dict) and str(body.get("groupVersion", "")).startswith("/"):
            body["groupVersion"] = body["groupVersion"][1:]
        return body

    def _authenticate(self, raw: web.BaseRequest) -> None:
        if self._token is None:
            return
        given = raw.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
            raise ApiError(401, "Unauthorized")

    @staticmethod
    def _drop(raw: web.BaseRequest) -> web.StreamResponse:
        # A connection reset: the client gets no status line at all.
        if raw.transport is not None:
            raw.transport.abort()
        return web.Response(status=500)

    # --- URL parsing ----------------------------------------------------------------------------------

    def _parse_target(self, path: str) -> Target | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None  # discovery (/api, /api/v1, /apis/g/v) or not a Kubernetes path
        watch = False
        if rest[0] == "watch" and len(rest) > 1:
            watch, rest = True, rest[1:]
        registry = self.store.registry
        # /api/v1/namespaces/{ns}/status is the Namespace's own subresource, not a collection.
        if rest[0] == "namespaces" and len(rest) >= 3 and (group or registry.lookup(group, version, rest[2])):
            namespace: str | None = rest[1]
            plural = rest[2]
            tail = rest[3:]
        else:
            namespace = None
            plural = rest[0]
            tail = rest[1:]
        served = registry.lookup(group, version, plural)
        name = tail[0] if tail else None
        subresource = "/".join(tail[1:]) or None
        if served is not None and not served.ref.namespaced and namespace is not None:
            served = None  # a cluster-scoped resource under a namespace does not exist
        return Target(served, namespace, name, subresource, watch)

    @staticmethod
    def _parse_proxy(raw_path: str) -> tuple[str, str, str | None, str] | None:
        parts = raw_path.split("?", 1)[0].split("/")
        # ['', 'api', 'v1', 'namespaces', ns, 'services', ref, 'proxy', ...tail]
        if (
            len(parts) < 8
            or parts[1:4] != ["api", "v1", "namespaces"]
            or parts[5:8:2] != ["services", "proxy"]
        ):
            return None
        # Clients may percent-encode the ":" of "name:port"; the tail stays as sent.
        _, service, port = parse_service_ref(urllib.parse.unquote(parts[6]))
        tail = "/" + "/".join(parts[8:]) if len(parts) > 8 else "/"
        return parts[4], service, port, tail

    # --- access -----------------------------------------------------------------------------------

    def _authorize(self, verb: str, res: Resource, namespace: str | None, subresource: str | None) -> None:
        if self.faults.denied(verb, res.plural, namespace, subresource):
            group = f"{res.group}" if res.group else ""
            what = f"{res.plural}/{subresource}" if subresource else res.plural
            raise errors.forbidden(
                f'{what} is forbidden: User "local-kuberay" cannot {verb} resource "{what}" in API group '
                f'"{group}"' + (f' in the namespace "{namespace}"' if namespace else " at the cluster scope")
            )

    def _access_review(self, body: dict[str, Any]) -> web.Response:
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        verb = attrs.get("verb", "")
        resource = attrs.get("resource", "")
        namespace = attrs.get("namespace") or None
        subresource = attrs.get("subresource") or None
        allowed = not self.faults.denied(verb, resource, namespace, subresource)
        review = {
            "apiVersion": SELF_SUBJECT_ACCESS_REVIEW.api_version,
            "kind": SELF_SUBJECT_ACCESS_REVIEW.kind,
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": {"allowed": allowed} if allowed else {"allowed": False, "reason": "denied by the test"},
        }
        return _json_response(review, 201)

    # --- objects ------------------------------------------------------------------------------------

    async def _ensure_crds(self) -> None:
        # Loaded on first use, off the loop (parsing the real manifests takes about a second).
        if self._crd_loader is None:
            return
        if self._crds_loaded is None:
            loader = self._crd_loader
            self._crds_loaded = asyncio.ensure_future(self._load_crds(loader))
        await asyncio.shield(self._crds_loaded)

    async def _load_crds(self, loader: Callable[[], list[dict[str, Any]]]) -> None:
        for crd in await asyncio.get_running_loop().run_in_executor(None, loader):
            if self.store.get(CRD, None, crd["metadata"]["name"]) is None:
                self.store.create(CRD, crd)

    @staticmethod
    async def _body(raw: web.BaseRequest) -> Any:
        data = await raw.read()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise errors.bad_request("the request body is not valid JSON") from None

    async def _serve_checked(self, raw: web.BaseRequest, target: Target, watch: bool) -> web.StreamResponse:
        # The request's field validation mode (the API server's default is Warn) and the warnings
        # its writes collect, sent back as `Warning` headers as kube-apiserver does.
        warnings: list[str] = []
        mode = FIELD_VALIDATION.set(raw.query.get("fieldValidation") or "Warn")
        collected = WARNINGS.set(warnings)
        try:
            response = await self._serve(raw, target, watch)
        finally:
            FIELD_VALIDATION.reset(mode)
            WARNINGS.reset(collected)
        if warnings and not response.prepared:
            for text in warnings:
                response.headers.add("Warning", '299 - "' + text.replace('"', '\\"') + '"')
        return response

    async def _serve(self, raw: web.BaseRequest, target: Target, watch: bool) -> web.StreamResponse:
        served = target.served
        if served is None:
            raise ApiError(404, "the server could not find the requested resource")
        res = served.ref
        namespace = target.namespace
        method = raw.method
        query = raw.query
        dry_run = "All" in query.getall("dryRun", [])
        if res == SELF_SUBJECT_ACCESS_REVIEW:
            if method != "POST" or target.name is not None:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            return self._access_review(await self._body(raw) or {})
        if res == CRD:
            await self._ensure_crds()
        sub = target.subresource
        if sub is not None and (sub != "status" or not served.has_status):
            raise ApiError(404, "the server could not find the requested resource")
        if target.name is None:
            if method == "GET":
                self._authorize("watch" if watch else "list", res, namespace, None)
                return (
                    await self._serve_watch(raw, res, namespace)
                    if watch
                    else self._serve_list(raw, res, namespace)
                )
            if method == "POST":
                self._authorize("create", res, namespace, None)
                body = await self._body(raw)
                created = self.store.create(
                    res, body or {}, namespace=namespace, dry_run=dry_run, keep_status=False
                )
                return _json_response(created, 201)
            if method == "DELETE":
                self._authorize("deletecollection", res, namespace, None)
                return self._delete_collection(raw, res, namespace, dry_run)
            raise ApiError(405, "the server does not allow this method on the requested resource")
        name = target.name
        if method == "GET":
            if watch:
                self._authorize("watch", res, namespace, None)
                return await self._serve_watch(raw, res, namespace, name=name)
            self._authorize("get", res, namespace, sub)
            obj = self.store.get(res, namespace, name)
            if obj is None:
                raise errors.not_found(res, name)
            return _json_response(obj)
        if method == "PUT":
            self._authorize("update", res, namespace, sub)
            body = await self._body(raw)
            return _json_response(self.store.replace(res, namespace, name, body or {}, sub, dry_run=dry_run))
        if method == "PATCH":
            self._authorize("patch", res, namespace, sub)
            content_type = raw.headers.get("Content-Type", MERGE_PATCH).split(";")[0].strip()
            if content_type not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH):
                raise errors.unsupported_patch()
            if content_type == STRATEGIC_MERGE_PATCH and served in KUBERAY_RESOURCES:
                # Custom resources have no patch strategy: kube-apiserver refuses the type.
                raise errors.unsupported_patch(custom_resource=True)
            body = await self._body(raw)
            patched = self.store.patch(
                res, namespace, name, body, sub, patch_type=content_type, dry_run=dry_run
            )
            return _json_response(patched)
        if method == "DELETE":
            self._authorize("delete", res, namespace, sub)
            if sub is not None:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            options = await self._body(raw) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            if options.get("orphanDependents") is True:
                propagation = "Orphan"
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            deleted = self.store.delete(
                res, namespace, name, propagation, preconditions=options.get("preconditions"), dry_run=dry_run
            )
            if deleted is None:
                raise errors.not_found(res, name)
            if served in KUBERAY_RESOURCES and not dry_run and self.store.get(res, namespace, name) is None:
                # A custom resource deleted at once: kube-apiserver answers a Success Status, not
                # the object (which it still returns while finalizers keep it).
                return _json_response(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "group": res.group,
                            "kind": res.plural,
                            "uid": deleted["metadata"].get("uid"),
                        },
                    }
                )
            return _json_response(deleted)
        raise ApiError(405, "the server does not allow this method on the requested resource")

    @staticmethod
    def _selectors(query: Any) -> tuple[LabelSelector, FieldSelector]:
        try:
            return LabelSelector.parse(query.get("labelSelector")), FieldSelector.parse(
                query.get("fieldSelector")
            )
        except SelectorError as exc:
            raise errors.bad_request(f"unable to parse requirement: {exc}") from None

    def _serve_list(self, raw: web.BaseRequest, res: Resource, namespace: str | None) -> web.Response:
        labels, fields = self._selectors(raw.query)
        items = self.store.select(res, namespace, labels, fields)
        rv = str(self.store.resource_version)
        metadata: dict[str, Any] = {"resourceVersion": rv}
        start = raw.query.get("continue")
        if start:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(start.encode())))
            except ValueError:
                raise errors.bad_request("invalid continue token") from None
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        limit = int(raw.query.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            token = json.dumps([last.get("namespace", ""), last["name"]]).encode()
            metadata["continue"] = base64.urlsafe_b64encode(token).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        body = {
            "apiVersion": res.api_version,
            "kind": f"{res.kind}List",
            "metadata": metadata,
            "items": items,
        }
        return _json_response(body)

    def _delete_collection(
        self, raw: web.BaseRequest, res: Resource, namespace: str | None, dry_run: bool
    ) -> web.Response:
        labels, fields = self._selectors(raw.query)
        deleted = []
        for obj in self.store.select(res, namespace, labels, fields):
            meta = obj["metadata"]
            gone = self.store.delete(res, meta.get("namespace"), meta["name"], dry_run=dry_run)
            if gone is not None:
                deleted.append(gone)
        body = {
            "apiVersion": res.api_version,
            "kind": f"{res.kind}List",
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": deleted,
        }
        return _json_response(body)

    # --- watch ----------------------------------------------------------------------------------------

    async def _serve_watch(
        self, raw: web.BaseRequest, res: Resource, namespace: str | None, *, name: str | None = None
    ) -> web.StreamResponse:
        query = raw.query
        labels, fields = self._selectors(query)
        try:
            timeout = float(query.get("timeoutSeconds") or 0)
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number") from None
        if timeout <= 0:
            timeout = DEFAULT_WATCH_TIMEOUT
        bookmarks = _flag(query, "allowWatchBookmarks")
        initial_flag = query.get("sendInitialEvents")
        send_initial = None if initial_flag is None else initial_flag.lower() in _TRUE
        response = web.StreamResponse(status=200, headers={"Content-Type": _JSON})
        response.enable_chunked_encoding()
        watcher: Watcher | None = None
        error: ApiError | None = None
        try:
            if self.faults.take_gone():
                rv = self.store.parse_resource_version(query.get("resourceVersion"))
                raise errors.gone(f"too old resource version: {rv} ({self.store.resource_version})")
            watcher = self.store.watch(
                res,
                namespace,
                name=name,
                label_selector=labels,
                field_selector=fields,
                resource_version=query.get("resourceVersion"),
                send_initial_events=send_initial,
            )
        except ApiError as exc:
            if exc.code != 410:
                raise
            error = exc
        if watcher is not None and send_initial and bookmarks:
            # The end of the initial state, announced before any later change is queued.
            watcher.put(self._bookmark(res, {"k8s.io/initial-events-end": "true"}))
        await response.prepare(raw)
        if error is not None:
            # As the API server does: 200, then one ERROR event carrying the 410 Status.
            await response.write(_watch_line(ERROR, error.to_status()))
            await response.write_eof()
            return response
        assert watcher is not None
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            await self._pump(response, watcher, res, timeout, bookmarks)
            if watcher.aborted and raw.transport is not None:
                raw.transport.abort()  # a reset mid-stream, as when a load balancer drops it
            else:
                await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the emulator is stopping
        finally:
            watcher.close()
            if task is not None:
                self._streams.discard(task)
        return response

    def _bookmark(self, res: Resource, annotations: dict[str, str] | None = None) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        if annotations:
            meta["annotations"] = annotations
        return _watch_line(BOOKMARK, {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta})

    async def _pump(
        self, response: web.StreamResponse, watcher: Watcher, res: Resource, timeout: float, bookmarks: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        queue = watcher.queue
        while True:
            now = loop.time()
            if now >= deadline:
                return
            wait = deadline - now
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            line: bytes | None
            try:
                async with asyncio.timeout(wait):
                    line = await queue.get()
            except TimeoutError:
                if bookmarks and loop.time() >= next_bookmark:
                    if queue.empty():
                        # Everything up to the current resourceVersion has been sent: safe to announce.
                        await response.write(self._bookmark(res))
                    next_bookmark = loop.time() + self.bookmark_interval
                continue
            if line is None:
                return
            chunks = [line]
            # Batch what is already queued into one write: one syscall for a burst of events.
            while not queue.empty() and len(chunks) < 512:
                more = queue.get_nowait()
                if more is None:
                    await response.write(b"".join(chunks))
                    return
                chunks.append(more)
            await response.write(b"".join(chunks))

    # --- service proxy ----------------------------------------------------------------------------

    async def _serve_proxy(
        self, raw: web.BaseRequest, namespace: str, service: str, port: str | None, tail: str
    ) -> web.StreamResponse:
        from airflow_ray_k8s.resources import SERVICE

        verb = {"GET": "get", "HEAD": "get"}.get(raw.method, "create")
        self._authorize(verb, SERVICE, namespace, "proxy")
        service_obj = self.store.get(SERVICE, namespace, service)
        target = self.proxies.resolve(namespace, service, port, service_obj)
        if target is None:
            if service_obj is None and not self.proxies.targets(namespace, service):
                raise errors.not_found(SERVICE, service)
            raise ApiError(503, f'no endpoints available for service "{service}"')
        return await self.proxies.forward(raw, target, tail)

    # --- lifecycle ----------------------------------------------------------------------------------

    async def close_streams(self) -> None:
        """End every open watch stream (used on stop)."""
        self.store.close_watchers()
        tasks = list(self._streams)
        if tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait(tasks, timeout=2)
