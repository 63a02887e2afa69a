"""The watch loop's logic on a scripted driver: resume, bookmarks, 410, re-list diffs, back-off."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import (
    CRDNotInstalledError,
    KubeForbiddenError,
    KubeTransientError,
    WaitTimeoutError,
)
from airflow_ray_k8s.kube import watch
from airflow_ray_k8s.kube.request import KubeRequest
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.kube.watch import WatchEvent, WatchOptions
from airflow_ray_k8s.resources import RAYJOB

from .kube_scripted import Script, ok, status

POLICY = RetryPolicy(backoffs=(0.1, 0.2, 0.4), jitter=0.0)


def obj(name: str, rv: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv, "labels": labels}}


def listing(rv: str, *items: dict[str, Any]) -> Any:
    return ok({"metadata": {"resourceVersion": rv}, "items": list(items)})


class Server:
    """Scripted answers: a queue of list answers and a queue of watch streams."""

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists = lists
        self.watches = watches

    def __call__(self, request: KubeRequest) -> Any:
        if request.stream:
            return self.watches.pop(0) if self.watches else []
        return self.lists.pop(0)


def events(script: Script) -> list[tuple[str, str]]:
    return [(e.type, e.name) for e in script.emitted]


def watch_queries(script: Script) -> list[dict[str, str]]:
    return [dict(r.query) for r in script.requests if r.stream]


def test_list_then_watch_from_its_version_with_bookmarks() -> None:
    script = Script(
        handler=Server(
            [listing("10", obj("a", "5"))],
            [
                [
                    {"type": "MODIFIED", "object": obj("a", "11", x="1")},
                    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
                ],
                [{"type": "ADDED", "object": obj("b", "16")}, {"type": "DELETED", "object": obj("a", "17")}],
            ],
        ),
        stop_after_emits=5,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [
        ("ADDED", "a"),
        ("SYNCED", ""),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    queries = watch_queries(script)
    assert queries[0]["resourceVersion"] == "10"
    assert queries[0]["allowWatchBookmarks"] == "true"
    # The server ended the first stream: resume from the bookmark's version, no re-list.
    assert queries[1]["resourceVersion"] == "15"
    assert sum(1 for r in script.requests if not r.stream) == 1
    assert script.streams[0].closed  # by the loop itself; the driver closes what is left open


def test_410_event_relists_and_emits_the_difference() -> None:
    script = Script(
        handler=Server(
            [
                listing("10", obj("a", "5"), obj("b", "6")),
                # After 410: a changed, b gone, c new.
                listing("30", obj("a", "25"), obj("c", "26")),
            ],
            [[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}]],
        ),
        stop_after_emits=7,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("SYNCED", ""),
        ("MODIFIED", "a"),
        ("ADDED", "c"),
        ("DELETED", "b"),
        ("SYNCED", ""),
    ]
    assert script.sleeps == []  # a 410 is not a failure: re-list at once


def test_410_answer_to_the_watch_request_relists() -> None:
    script = Script(
        handler=Server([listing("10"), listing("20", obj("a", "19"))], [status(410, "Expired")]),
        stop_after_emits=3,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [("SYNCED", ""), ("ADDED", "a"), ("SYNCED", "")]


def test_dropped_stream_resumes_after_backoff_from_the_last_version() -> None:
    reset = KubeTransientError("connection reset")
    script = Script(
        handler=Server(
            [listing("10")],
            [
                [{"type": "ADDED", "object": obj("a", "12")}, reset],
                [{"type": "MODIFIED", "object": obj("a", "13")}],
            ],
        ),
        stop_after_emits=3,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [("SYNCED", ""), ("ADDED", "a"), ("MODIFIED", "a")]
    assert [q["resourceVersion"] for q in watch_queries(script)] == ["10", "12"]
    assert script.sleeps == [0.1]  # the first delay again: a good event resets the back-off


def test_replayed_objects_are_not_emitted_twice() -> None:
    a = obj("a", "5")
    script = Script(
        handler=Server(
            [listing("")],
            [
                [{"type": "ADDED", "object": a}],
                [{"type": "ADDED", "object": a}, {"type": "MODIFIED", "object": obj("a", "6")}],
            ],
        ),
        stop_after_emits=3,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [("SYNCED", ""), ("ADDED", "a"), ("MODIFIED", "a")]
    # The server reported no version: watch without one.
    assert "resourceVersion" not in watch_queries(script)[0]


def test_transient_watch_answers_back_off_with_retry_after() -> None:
    script = Script(
        handler=Server(
            [listing("10")],
            [
                status(503, "ServiceUnavailable"),
                KubeTransientError("x", status=429, retry_after=0.3),
                [{"type": "ADDED", "object": obj("a", "11")}],
            ],
        ),
        stop_after_emits=2,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert script.sleeps == [0.1, 0.3]


def test_streams_that_end_at_once_are_backed_off() -> None:
    script = Script(
        handler=Server([listing("10")], [[], [], [{"type": "ADDED", "object": obj("a", "11")}]]),
        stop_after_emits=2,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY, options=WatchOptions(min_stream_seconds=60)))
    assert script.sleeps == [0.1, 0.2]


def test_unknown_event_types_and_garbage_lines_do_not_crash() -> None:
    script = Script(
        handler=Server(
            [listing("10")],
            [
                [
                    {"type": "SOMETHING_NEW", "object": {}},
                    b"{not json",
                ],
                [{"type": "ADDED", "object": obj("a", "11")}],
            ],
        ),
        stop_after_emits=2,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))
    assert events(script) == [("SYNCED", ""), ("ADDED", "a")]


@pytest.mark.parametrize(
    ("answer", "cls"),
    [(status(403, "Forbidden"), KubeForbiddenError), (status(404, "NotFound"), CRDNotInstalledError)],
)
def test_errors_retrying_cannot_fix_end_the_loop(answer: Any, cls: type[Exception]) -> None:
    script = Script(handler=lambda r: answer)
    with pytest.raises(cls):
        script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY))


def test_periodic_relist_safety_net() -> None:
    script = Script(
        handler=Server([listing("10", obj("a", "1")), listing("20", obj("a", "2"))], [[]]),
        stop_after_emits=4,
    )
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY, options=WatchOptions(relist_interval=0.0)))
    assert events(script) == [("ADDED", "a"), ("SYNCED", ""), ("MODIFIED", "a"), ("SYNCED", "")]


def test_deadline_ends_the_loop() -> None:
    script = Script(handler=Server([listing("10")], []))
    script.run(watch.watch_objects(RAYJOB, "ray", policy=POLICY, deadline=time.monotonic() - 1))
    assert script.requests == []


def test_wait_for_object_sees_absent_then_changes() -> None:
    seen: list[Any] = []

    def predicate(o: Any) -> bool:
        seen.append(o and o["metadata"]["resourceVersion"])
        return o is not None and o["metadata"]["labels"].get("done") == "1"

    script = Script(
        handler=Server(
            [listing("10")],
            [
                [
                    {"type": "ADDED", "object": obj("other", "11")},
                    {"type": "ADDED", "object": obj("j", "12")},
                    {"type": "MODIFIED", "object": obj("j", "13", done="1")},
                ]
            ],
        )
    )
    result = script.run(watch.wait_for_object(RAYJOB, "ray", "j", predicate, timeout=30, policy=POLICY))
    assert result is not None
    assert result["metadata"]["resourceVersion"] == "13"
    assert seen == [None, "12", "13"]
    assert dict(script.requests[0].query)["fieldSelector"] == "metadata.name=j"


def test_wait_for_object_deleted_and_timeout() -> None:
    script = Script(
        handler=Server([listing("10", obj("j", "9"))], [[{"type": "DELETED", "object": obj("j", "11")}]])
    )
    assert (
        script.run(watch.wait_for_object(RAYJOB, "ray", "j", lambda o: o is None, timeout=30, policy=POLICY))
        is None
    )
    script = Script(handler=Server([listing("10")], []))
    with pytest.raises(WaitTimeoutError, match="not met within"):
        script.run(watch.wait_for_object(RAYJOB, "ray", "j", lambda o: False, timeout=0.2, policy=POLICY))


def test_watch_event_name() -> None:
    assert WatchEvent("ADDED", obj("x", "1")).name == "x"
    assert WatchEvent("SYNCED", {}).name == ""
