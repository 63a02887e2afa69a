"""API conformance: status codes and Status bodies, defaulting and pruning, schema and field
validation, patch types, discovery documents and table output, on both backends."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.conformance.conftest import Backend, Observations

pytestmark = [pytest.mark.conformance, pytest.mark.realkube, pytest.mark.timeout(300)]

NS = "default"
RAYJOBS = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"
RAYCLUSTERS = f"/apis/ray.io/v1/namespaces/{NS}/rayclusters"


def _name(prefix: str) -> str:
    return f"cf-{prefix}-{secrets.token_hex(3)}"


def _rayjob(name: str, **spec: Any) -> dict[str, Any]:
    # A RayJob on a cluster that does not exist: KubeRay waits for it and starts nothing.
    body = {"entrypoint": "python -c 'print(1)'", "clusterSelector": {"ray.io/cluster": "cf-nowhere"}}
    body.update(spec)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": body}


def status_body(response: Any, name: str = "") -> dict[str, Any]:
    """A Status answer reduced to what clients read; the object's own ``name`` shows as ``<name>``
    (each backend's objects have their own random names)."""
    try:
        body = response.json()
    except json.JSONDecodeError:
        return {"code": response.status_code, "body": "not JSON"}
    details = body.get("details") or {}
    return {
        "code": response.status_code,
        "kind": body.get("kind"),
        "status": body.get("status"),
        "reason": body.get("reason"),
        "details": {
            k: ("<name>" if name and details.get(k) == name else details.get(k))
            for k in ("name", "group", "kind")
            if k in details
        },
    }


def both(backends: dict[str, Backend], observe: Any) -> dict[str, Any]:
    """``observe(backend)`` on each backend."""
    return {name: observe(backend) for name, backend in backends.items()}


def _cleanup(backend: Backend, path: str) -> None:
    backend.request("DELETE", path)


def test_not_found_status(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        r = b.request("GET", f"{RAYJOBS}/cf-missing")
        return {**status_body(r), "message": r.json().get("message")}

    observations.compare("get-missing-404", both(backends, observe))


def test_already_exists_status(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("dup")
        first = b.request("POST", RAYJOBS, _rayjob(name))
        second = b.request("POST", RAYJOBS, _rayjob(name))
        _cleanup(b, f"{RAYJOBS}/{name}")
        return {"first": first.status_code, "second": status_body(second, name)}

    observations.compare("create-twice-409", both(backends, observe))


def test_stale_update_conflict(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("stale")
        created = b.request("POST", RAYJOBS, _rayjob(name)).json()
        merge = {"Content-Type": "application/merge-patch+json"}
        b.request("PATCH", f"{RAYJOBS}/{name}", content=b'{"metadata":{"labels":{"a":"b"}}}', headers=merge)
        # The provider has no `update` verb (deploy/rbac.yaml): a precondition goes in a patch.
        old = created["metadata"]["resourceVersion"]
        body = json.dumps({"metadata": {"resourceVersion": old, "labels": {"stale": "yes"}}}).encode()
        stale = b.request("PATCH", f"{RAYJOBS}/{name}", content=body, headers=merge)
        _cleanup(b, f"{RAYJOBS}/{name}")
        return status_body(stale, name)

    observations.compare("update-stale-409", both(backends, observe))


def test_wrong_type_is_refused(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("type")
        r = b.request("POST", RAYJOBS, _rayjob(name, entrypoint=5))
        _cleanup(b, f"{RAYJOBS}/{name}")
        body = r.json()
        causes = {c.get("field", "") for c in (body.get("details") or {}).get("causes") or []}
        # The real server adds a cause with no field ("<nil>") for the whole object; what matters is
        # that the wrong field is named.
        return {**status_body(r, name), "names_the_field": "spec.entrypoint" in causes}

    observations.compare("schema-wrong-type-422", both(backends, observe))


def test_unknown_field_strict_is_refused(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("strict")
        r = b.request("POST", f"{RAYJOBS}?fieldValidation=Strict", _rayjob(name, bogusField=1))
        _cleanup(b, f"{RAYJOBS}/{name}")
        return status_body(r, name)

    observations.compare("strict-unknown-field-422", both(backends, observe))


def test_unknown_field_is_pruned_with_a_warning(
    backends: dict[str, Backend], observations: Observations
) -> None:
    def observe(b: Backend) -> Any:
        name = _name("prune")
        r = b.request("POST", RAYJOBS, _rayjob(name, bogusField=1))
        stored = b.request("GET", f"{RAYJOBS}/{name}").json()
        _cleanup(b, f"{RAYJOBS}/{name}")
        return {
            "code": r.status_code,
            "kept": "bogusField" in (stored.get("spec") or {}),
            "warning": "unknown field" in r.headers.get("Warning", ""),
        }

    observations.compare("unknown-field-pruned", both(backends, observe))


def test_defaults_and_metadata(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("defaults")
        sent = _rayjob(name)
        created = b.request("POST", RAYJOBS, sent).json()
        _cleanup(b, f"{RAYJOBS}/{name}")
        spec = created.get("spec") or {}
        defaulted = {k: v for k, v in spec.items() if k not in sent["spec"]}
        meta = created["metadata"]
        return {
            "defaulted_spec": defaulted,
            "metadata_keys": sorted(k for k in meta if k not in ("name", "namespace")),
            "generation": meta.get("generation"),
            "status_on_create": created.get("status"),
        }

    observations.compare("create-defaults-metadata", both(backends, observe))


def test_generation_counts_spec_changes_only(
    backends: dict[str, Backend], observations: Observations
) -> None:
    def observe(b: Backend) -> Any:
        name = _name("gen")
        b.request("POST", RAYJOBS, _rayjob(name))
        merge = {"Content-Type": "application/merge-patch+json"}
        label = b.request(
            "PATCH", f"{RAYJOBS}/{name}", content=b'{"metadata":{"labels":{"a":"b"}}}', headers=merge
        ).json()
        spec = b.request(
            "PATCH", f"{RAYJOBS}/{name}", content=b'{"spec":{"entrypoint":"python -V"}}', headers=merge
        ).json()
        _cleanup(b, f"{RAYJOBS}/{name}")
        return [label["metadata"]["generation"], spec["metadata"]["generation"]]

    observations.compare("generation-spec-only", both(backends, observe))


@pytest.mark.parametrize(
    "content_type",
    ["application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"],
)
def test_patch_types_on_a_custom_resource(
    content_type: str, backends: dict[str, Backend], observations: Observations
) -> None:
    bodies = {
        "application/merge-patch+json": b'{"metadata":{"labels":{"p":"q"}}}',
        "application/json-patch+json": b'[{"op":"add","path":"/metadata/labels","value":{"p":"q"}}]',
        "application/strategic-merge-patch+json": b'{"metadata":{"labels":{"p":"q"}}}',
    }

    def observe(b: Backend) -> Any:
        name = _name("patch")
        b.request("POST", RAYJOBS, _rayjob(name))
        r = b.request(
            "PATCH", f"{RAYJOBS}/{name}", content=bodies[content_type], headers={"Content-Type": content_type}
        )
        _cleanup(b, f"{RAYJOBS}/{name}")
        return r.status_code

    observations.compare(f"patch-{content_type.split('/')[1]}", both(backends, observe))


def test_delete_answers(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = _name("del")
        # Managed by MultiKueue: KubeRay leaves it alone, so no finalizer of its races the DELETE.
        b.request("POST", RAYJOBS, _rayjob(name, managedBy="kueue.x-k8s.io/multikueue"))
        first = b.request("DELETE", f"{RAYJOBS}/{name}")
        again = b.request("DELETE", f"{RAYJOBS}/{name}")
        return {"first": [first.status_code, first.json().get("kind")], "again": status_body(again, name)}

    observations.compare("delete-then-delete-again", both(backends, observe))


def test_list_shape(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        body = b.request("GET", f"{RAYJOBS}?labelSelector=cf-none%3Dnone").json()
        return {
            "kind": body.get("kind"),
            "apiVersion": body.get("apiVersion"),
            "items": body.get("items"),
            "has_resource_version": bool((body.get("metadata") or {}).get("resourceVersion")),
        }

    observations.compare("list-shape", both(backends, observe))


def test_table_output(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        r = b.request("GET", RAYJOBS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        body = r.json()
        return {
            "code": r.status_code,
            "kind": body.get("kind"),
            "columns": [c["name"] for c in body.get("columnDefinitions") or []],
        }

    observations.compare("table-output", both(backends, observe))


@pytest.mark.parametrize("path", ["/openapi/v2", "/openapi/v3"])
def test_openapi_documents(path: str, backends: dict[str, Backend], observations: Observations) -> None:
    observations.compare(
        f"discovery{path.replace('/', '-')}", both(backends, lambda b: b.request("GET", path).status_code)
    )


def test_discovery_of_the_ray_group(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        body = b.request("GET", "/apis/ray.io/v1").json()
        return sorted(
            (r["name"], r.get("namespaced"), r["kind"], tuple(sorted(r.get("shortNames") or [])))
            for r in body.get("resources") or []
            if r["name"] in ("rayjobs", "rayclusters", "rayjobs/status", "rayclusters/status")
        )

    observations.compare("discovery-ray-group", both(backends, observe))
