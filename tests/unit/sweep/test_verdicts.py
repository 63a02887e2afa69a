"""The sweeper's decisions about single objects (pure)."""

from __future__ import annotations

import pytest

from airflow_ray_k8s.naming import ANNOTATION_EXPIRES_AT, LABEL_MANAGED_BY, TaskIdentity
from airflow_ray_k8s.sweep.verdicts import ABSENT, UNKNOWN, judge, owner_of
from tests.sweep_objects import FUTURE, NOW, PAST, foreign, forged, ours


def test_owner_is_read_back_from_the_labels_and_annotations() -> None:
    identity = TaskIdentity("d", "group.t", "manual__2026-01-01T00:00:00+00:00", 3)
    owner = owner_of(ours("RayJob", "j", "ns", expires=PAST, identity=identity))
    assert owner is not None
    assert owner.identity == identity
    assert owner.try_number == 1


@pytest.mark.parametrize(
    ("state", "delete"),
    [
        (UNKNOWN, True),
        (ABSENT, True),
        ("success", True),
        ("failed", True),
        ("upstream_failed", True),
        ("running", False),
        ("deferred", False),
        ("up_for_retry", False),
        ("queued", False),
        ("none", False),
    ],
)
def test_an_expired_object_goes_only_when_its_task_is_not_running(state: str, delete: bool) -> None:
    verdict = judge("RayJob", ours("RayJob", "j", "ns", expires=PAST), NOW, state)
    assert verdict.delete is delete, verdict.why
    assert "expired at" in verdict.why
    assert verdict.owner is not None


def test_an_unexpired_object_stays_whatever_the_state() -> None:
    verdict = judge("RayCluster", ours("RayCluster", "c", "ns", expires=FUTURE), NOW, "failed")
    assert not verdict.delete
    assert "in 7200 s" in verdict.why


def test_foreign_objects_are_never_deleted() -> None:
    cases = [
        foreign("RayJob", "a", "ns", labels={}, annotations={ANNOTATION_EXPIRES_AT: "2020-01-01T00:00:00Z"}),
        foreign(
            "RayJob",
            "b",
            "ns",
            labels={LABEL_MANAGED_BY: "someone-else"},
            annotations={ANNOTATION_EXPIRES_AT: "2020-01-01T00:00:00Z"},
        ),
        forged("RayCluster", "c", "ns"),
    ]
    for obj in cases:
        verdict = judge(obj["kind"], obj, NOW, UNKNOWN)
        assert not verdict.delete
        assert verdict.why == "not created by airflow-ray-k8s"


def test_no_or_unreadable_expiry_keeps_the_object() -> None:
    obj = ours("RayJob", "j", "ns", expires=PAST)
    obj["metadata"]["annotations"][ANNOTATION_EXPIRES_AT] = "soon"
    assert not judge("RayJob", obj, NOW, UNKNOWN).delete
    del obj["metadata"]["annotations"][ANNOTATION_EXPIRES_AT]
    assert "no readable expiry" in judge("RayJob", obj, NOW, UNKNOWN).why


def test_dry_run_lines_say_would() -> None:
    verdict = judge("RayJob", ours("RayJob", "j", "ns", expires=PAST), NOW, UNKNOWN)
    assert verdict.line(dry_run=True).startswith("would delete RayJob ns/j: task nightly.train scheduled__j")
    assert verdict.line(dry_run=False).startswith("delete RayJob ns/j")
