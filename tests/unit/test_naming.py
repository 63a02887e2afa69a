"""Deterministic, bounded, distinct names and valid labels from a task's identity."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_ray_k8s import naming
from airflow_ray_k8s.naming import (
    HEAD_SERVICE_SUFFIX,
    MAX_RAYCLUSTER_NAME_LENGTH,
    MAX_RAYJOB_NAME_LENGTH,
    TaskIdentity,
    dns1035_label_errors,
    format_expiry,
    label_value_errors,
    parse_expiry,
    qualified_name_errors,
    sanitize_label_value,
    spec_hash,
)

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

identities = st.builds(
    TaskIdentity,
    dag_id=st.text(min_size=1, max_size=250),
    task_id=st.text(min_size=1, max_size=250),
    run_id=st.text(min_size=1, max_size=100),
    map_index=st.integers(-1, 10**6),
)


def test_names_are_readable_and_deterministic() -> None:
    identity = TaskIdentity("nightly_training", "train.fit_model", "scheduled__2024-06-01T00:00:00+00:00")
    name = identity.resource_name()
    assert name.startswith("nightly-training-train-fit-model-")
    assert name == TaskIdentity(*identity.__dict__.values()).resource_name()
    assert identity.resource_name(try_number=2).endswith("-t2")
    assert identity.resource_name(try_number=2) != identity.resource_name(try_number=3)
    mapped = TaskIdentity("d", "t", "r", map_index=7)
    assert "-m7-" in mapped.resource_name()
    assert identity.resource_name(prefix="Team A").startswith("team-a-nightly")


def test_long_ids_are_shortened_to_leave_room_for_kuberays_suffixes() -> None:
    identity = TaskIdentity("d" * 200, "t" * 200, "r", 12345)
    job = identity.resource_name("rayjob", try_number=99)
    cluster = identity.resource_name("raycluster", try_number=99)
    assert len(job) == MAX_RAYJOB_NAME_LENGTH == 47
    assert len(cluster) == MAX_RAYCLUSTER_NAME_LENGTH == 53
    # KubeRay's generated names still fit in 63 characters.
    assert len(job + "-abcde" + HEAD_SERVICE_SUFFIX) <= 63
    assert len(cluster + "-serve-svc") <= 63
    # Both parts keep a readable share.
    assert job.startswith("dddd")
    assert "-tttt" in job


def test_leading_digits_and_symbols_still_give_a_dns1035_name() -> None:
    for dag_id in ("2024_backfill", "___", "日本語", "-x-"):
        name = TaskIdentity(dag_id, "9task", "r").resource_name()
        assert DNS1035.fullmatch(name), name


@settings(max_examples=200, deadline=None)
@given(
    identity=identities,
    kind=st.sampled_from(["rayjob", "raycluster"]),
    try_number=st.none() | st.integers(0, 10**9),
)
def test_every_name_is_a_valid_bounded_dns1035_label(
    identity: TaskIdentity, kind: str, try_number: int | None
) -> None:
    name = identity.resource_name(kind, try_number=try_number)  # type: ignore[arg-type]
    limit = MAX_RAYJOB_NAME_LENGTH if kind == "rayjob" else MAX_RAYCLUSTER_NAME_LENGTH
    assert not dns1035_label_errors(name, limit), name


@settings(max_examples=200, deadline=None)
@given(a=identities, b=identities)
def test_distinct_identities_get_distinct_names_even_when_truncated(a: TaskIdentity, b: TaskIdentity) -> None:
    if a != b:
        assert a.resource_name() != b.resource_name()
        assert a.key != b.key


def test_names_differing_only_in_the_truncated_part_stay_distinct() -> None:
    long = "x" * 100
    names = {
        TaskIdentity(long + suffix, "task", run, index).resource_name()
        for suffix in ("a", "b")
        for run in ("manual__2024-01-01T00:00:00+00:00", "manual__2024-01-01T00:00:00+00:01")
        for index in (-1, 0, 1)
    }
    assert len(names) == 12


def test_labels_are_valid_and_keep_the_run_id_recoverable() -> None:
    identity = TaskIdentity("dag", "group.task", "manual__2024-01-01T00:00:00+00:00", 3)
    labels = identity.labels(try_number=2)
    assert labels == {
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY_VALUE,
        naming.LABEL_DAG_ID: "dag",
        naming.LABEL_TASK_ID: "group.task",
        naming.LABEL_RUN_ID: labels[naming.LABEL_RUN_ID],
        naming.LABEL_MAP_INDEX: "3",
        naming.LABEL_TASK_KEY: identity.key,
        naming.LABEL_TRY: "2",
    }
    assert labels[naming.LABEL_RUN_ID].startswith("manual__2024-01-01T00-00-00-00-00-")
    for key, value in labels.items():
        assert not qualified_name_errors(key), key
        assert not label_value_errors(value), value
    assert identity.annotations()[naming.ANNOTATION_RUN_ID] == "manual__2024-01-01T00:00:00+00:00"
    assert (
        identity.selector()
        == f"{naming.LABEL_MANAGED_BY}=airflow-ray-k8s,{naming.LABEL_TASK_KEY}={identity.key}"
    )


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=120))
def test_sanitized_label_values_are_valid(value: str) -> None:
    clean = sanitize_label_value(value)
    assert LABEL_VALUE.fullmatch(clean), clean
    assert len(clean) <= 63
    assert sanitize_label_value(value) == clean


@settings(max_examples=300, deadline=None)
@given(a=st.text(max_size=80), b=st.text(max_size=80))
def test_sanitizing_keeps_distinct_values_distinct(a: str, b: str) -> None:
    if a != b:
        assert sanitize_label_value(a) != sanitize_label_value(b)


def test_trailing_newlines_are_not_valid() -> None:
    assert dns1035_label_errors("abc\n")
    assert label_value_errors("abc\n")
    assert qualified_name_errors("abc\n")
    assert sanitize_label_value("abc\n") != "abc\n"


def test_valid_label_values_are_kept_as_they_are() -> None:
    for value in ("", "dag_1", "a.b-c", "X" * 63):
        assert sanitize_label_value(value) == value
    assert sanitize_label_value("a:b") != sanitize_label_value("a+b")
    assert sanitize_label_value("X" * 64) != "X" * 64


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("team", True),
        ("ray.io/cluster", True),
        ("airflow-ray-k8s.io/run-id", True),
        ("Bad.Prefix/x", False),
        ("/x", False),
        ("a/", False),
        ("a b", False),
        ("x" * 64, False),
    ],
)
def test_qualified_names(key: str, valid: bool) -> None:
    assert (not qualified_name_errors(key)) is valid


def test_spec_hash_ignores_key_order_and_sees_values() -> None:
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
    assert re.fullmatch(r"[0-9a-f]{16}", spec_hash({}))


def test_expiry_round_trip() -> None:
    when = datetime(2024, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    text = format_expiry(when)
    assert text == "2024-06-01T10:30:00Z"
    assert parse_expiry(text) == when
    assert format_expiry(datetime(2024, 6, 1)) == "2024-06-01T00:00:00Z"
    assert parse_expiry("soon") is None


def test_naming_imports_nothing_heavy() -> None:
    code = (
        "import sys, airflow_ray_k8s.naming; "
        "print(sorted(m for m in ('pydantic', 'yaml', 'kubernetes', 'airflow', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
