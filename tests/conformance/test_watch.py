"""Watch conformance: the event sequence of a create/patch/delete, BOOKMARK events, and what a watch
from a compacted resourceVersion answers (the 410 path every informer must handle)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from tests.conformance.conftest import Backend, Observations
from tests.conformance.test_lifecycle import parallel
from tests.conformance.watching import Recorder, distinct

pytestmark = [pytest.mark.conformance, pytest.mark.realkube, pytest.mark.timeout(300)]

RAYJOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"


def _rayjob(name: str) -> dict[str, Any]:
    spec = {"entrypoint": "python -V", "clusterSelector": {"ray.io/cluster": "cf-nowhere"}}
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": spec}


def test_create_patch_delete_events(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        name = f"cf-watch-{secrets.token_hex(3)}"
        rec = Recorder(b, RAYJOBS, name, timeout=60).start()
        b.request("POST", RAYJOBS, _rayjob(name))
        b.request(
            "PATCH",
            f"{RAYJOBS}/{name}",
            content=b'{"metadata":{"labels":{"step":"two"}}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        b.request("DELETE", f"{RAYJOBS}/{name}")
        rec.wait()
        kinds = [kind for _, kind, _ in rec.events if kind != "BOOKMARK"]
        labels = [(obj.get("metadata") or {}).get("labels", {}).get("step") for _, kind, obj in rec.events]
        return {
            "first": kinds[0],
            "last": kinds[-1],
            "distinct": distinct(kinds),
            "saw_label": "two" in labels,
        }

    observations.compare("watch-create-patch-delete", parallel(backends, observe))


def test_bookmarks_arrive(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        start = time.monotonic()
        params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "75"}
        with b.http.stream("GET", RAYJOBS, params=params, timeout=None) as resp:
            for line in resp.iter_lines():
                if line.strip() and json.loads(line)["type"] == "BOOKMARK":
                    event = json.loads(line)
                    meta = event["object"].get("metadata") or {}
                    return {
                        "bookmark": True,
                        "after_s": round(time.monotonic() - start, 1),
                        "has_resource_version": bool(meta.get("resourceVersion")),
                        "object_kind": event["object"].get("kind"),
                    }
        return {"bookmark": False, "after_s": round(time.monotonic() - start, 1)}

    seen = parallel(backends, observe)
    observations.record("watch-bookmark.timings", {k: v.pop("after_s") for k, v in seen.items()})
    observations.compare("watch-bookmark", seen)


def test_a_watch_from_a_compacted_version(backends: dict[str, Backend], observations: Observations) -> None:
    def observe(b: Backend) -> Any:
        # Enough writes that version 2 is far behind, then wait out a compaction (the real API
        # server compacts every 30 s here, `--etcd-compaction-interval`).
        names = [f"cf-old-{secrets.token_hex(3)}" for _ in range(3)]
        for name in names:
            b.request("POST", RAYJOBS, _rayjob(name))
            b.request("DELETE", f"{RAYJOBS}/{name}")
        time.sleep(35)
        params = {"watch": "1", "resourceVersion": "2", "timeoutSeconds": "5"}
        with b.http.stream("GET", RAYJOBS, params=params, timeout=None) as resp:
            if resp.status_code != 200:
                resp.read()
                return {"http": resp.status_code, "reason": resp.json().get("reason")}
            for line in resp.iter_lines():
                if line.strip():
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    return {
                        "http": 200,
                        "type": event["type"],
                        "code": obj.get("code"),
                        "reason": obj.get("reason"),
                    }
        return {"http": 200, "type": None}

    observations.compare("watch-from-compacted-version", parallel(backends, observe))
