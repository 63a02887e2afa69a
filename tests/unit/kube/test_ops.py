"""Operations' logic (create-or-re-attach, pagination, 404 on delete, deletion wait) on a scripted driver."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_ray_k8s import naming
from airflow_ray_k8s.exceptions import (
    KubeConflictError,
    KubeInvalidError,
    KubeNotFoundError,
    WaitTimeoutError,
)
from airflow_ray_k8s.kube import ops
from airflow_ray_k8s.kube.request import KubeRequest
from airflow_ray_k8s.resources import RAYJOB

from .kube_scripted import Script, ok, status


def body(spec: dict[str, Any] | None = None, task_key: str = "tk1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "job-a",
            "labels": {naming.LABEL_MANAGED_BY: naming.MANAGED_BY_VALUE, naming.LABEL_TASK_KEY: task_key},
        },
        "spec": spec or {"entrypoint": "python main.py"},
    }


def stored(b: dict[str, Any]) -> dict[str, Any]:
    return {**ops.with_spec_hash(b), "status": {"jobDeploymentStatus": "Running"}}


def test_create_adds_the_spec_hash(script: Script) -> None:
    script.handler = lambda r: ok(r.body, 201)
    result = script.run(ops.create_or_attach(RAYJOB, "ray", body()))
    assert result.created
    assert result.spec_matches
    annotations = result.object["metadata"]["annotations"]
    assert annotations[naming.ANNOTATION_SPEC_HASH] == naming.spec_hash(body()["spec"])
    assert [r.method for r in script.requests] == ["POST"]


def test_409_on_an_owned_name_re_attaches(script: Script) -> None:
    existing = stored(body())

    def handler(r: KubeRequest) -> Any:
        return status(409, "AlreadyExists") if r.method == "POST" else ok(existing)

    script.handler = handler
    result = script.run(ops.create_or_attach(RAYJOB, "ray", body()))
    assert not result.created
    assert result.spec_matches
    assert result.object["status"] == {"jobDeploymentStatus": "Running"}
    assert [(r.method, r.path) for r in script.requests] == [
        ("POST", "/apis/ray.io/v1/namespaces/ray/rayjobs"),
        ("GET", "/apis/ray.io/v1/namespaces/ray/rayjobs/job-a"),
    ]


def test_409_with_another_spec_reports_the_mismatch(script: Script) -> None:
    existing = stored(body({"entrypoint": "python old.py"}))
    script.handler = lambda r: status(409, "AlreadyExists") if r.method == "POST" else ok(existing)
    result = script.run(ops.create_or_attach(RAYJOB, "ray", body()))
    assert not result.created
    assert not result.spec_matches


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {naming.LABEL_MANAGED_BY: "someone-else"},
        {naming.LABEL_MANAGED_BY: naming.MANAGED_BY_VALUE, naming.LABEL_TASK_KEY: "other"},
    ],
)
def test_409_on_a_foreign_object_is_a_conflict(script: Script, labels: dict[str, str]) -> None:
    foreign = {"metadata": {"name": "job-a", "labels": labels}, "spec": {}}
    script.handler = lambda r: status(409, "AlreadyExists") if r.method == "POST" else ok(foreign)
    with pytest.raises(KubeConflictError, match="not created by this task") as info:
        script.run(ops.create_or_attach(RAYJOB, "ray", body()))
    assert isinstance(info.value.__cause__, KubeConflictError)


def test_409_on_an_object_being_deleted_is_a_conflict(script: Script) -> None:
    existing = stored(body())
    existing["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    script.handler = lambda r: status(409, "AlreadyExists") if r.method == "POST" else ok(existing)
    with pytest.raises(KubeConflictError, match="being deleted") as info:
        script.run(ops.create_or_attach(RAYJOB, "ray", body()))
    assert info.value.reason == "Terminating"


def test_409_then_gone_is_the_original_conflict(script: Script) -> None:
    script.handler = lambda r: (
        status(409, "AlreadyExists", "exists")
        if r.method == "POST"
        else status(404, "NotFound", details={"name": "job-a"})
    )
    with pytest.raises(KubeConflictError, match="exists"):
        script.run(ops.create_or_attach(RAYJOB, "ray", body()))


def test_create_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        Script().run(ops.create_or_attach(RAYJOB, "ray", {"metadata": {"generateName": "x-"}}))


def test_invalid_create_propagates(script: Script) -> None:
    script.handler = lambda r: status(422, "Invalid", "spec.entrypoint: Required")
    with pytest.raises(KubeInvalidError, match="Required"):
        script.run(ops.create_or_attach(RAYJOB, "ray", body()))


def test_dry_run(script: Script) -> None:
    script.handler = lambda r: ok(r.body, 201)
    script.run(ops.dry_run_create(RAYJOB, "ray", body()))
    assert dict(script.requests[0].query) == {"dryRun": "All"}


def test_delete_404_is_already_gone(script: Script) -> None:
    script.handler = lambda r: status(404, "NotFound", details={"name": "job-a"})
    assert script.run(ops.delete(RAYJOB, "ray", "job-a")) is False
    script.handler = lambda r: ok({"kind": "Status", "status": "Success"})
    assert script.run(ops.delete(RAYJOB, "ray", "job-a", propagation_policy="Foreground")) is True
    assert script.requests[-1].body["propagationPolicy"] == "Foreground"


def test_get_or_none(script: Script) -> None:
    script.handler = lambda r: status(404, "NotFound", details={"name": "x"})
    assert script.run(ops.get_or_none(RAYJOB, "ray", "x")) is None
    with pytest.raises(KubeNotFoundError):
        script.run(ops.get(RAYJOB, "ray", "x"))


def test_list_follows_continue_tokens(script: Script) -> None:
    pages = {
        None: ok(
            {"metadata": {"resourceVersion": "10", "continue": "p2"}, "items": [{"metadata": {"name": "a"}}]}
        ),
        "p2": ok(
            {"metadata": {"resourceVersion": "11", "continue": ""}, "items": [{"metadata": {"name": "b"}}]}
        ),
    }
    script.handler = lambda r: pages[dict(r.query).get("continue")]
    result = script.run(ops.list_all(RAYJOB, "ray", label_selector="a=b", page_size=1))
    assert [i["metadata"]["name"] for i in result.items] == ["a", "b"]
    assert result.resource_version == "10"  # the snapshot's version is the first page's
    assert all(dict(r.query)["labelSelector"] == "a=b" for r in script.requests)


def test_wait_for_deletion_polls_with_growing_sleeps(script: Script) -> None:
    answers = [ok({}), ok({}), ok({}), status(404, "NotFound", details={"name": "j"})]
    script.handler = lambda r: answers.pop(0)
    script.run(
        ops.wait_for_deletion(RAYJOB, "ray", "j", timeout=60, poll_interval=0.5, max_poll_interval=1.0)
    )
    assert script.sleeps == [0.5, 1.0, 1.0]


def test_wait_for_deletion_times_out(script: Script) -> None:
    script.handler = lambda r: ok({})
    with pytest.raises(WaitTimeoutError, match="still exists"):
        script.run(ops.wait_for_deletion(RAYJOB, "ray", "j", timeout=0.0))
