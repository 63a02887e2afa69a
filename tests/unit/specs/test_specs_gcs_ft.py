"""The legacy ``ray.io/ft-enabled`` annotation: a warning that explains, and a migration that works."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import (
    LegacyGcsFtAnnotationWarning,
    RaySpecWarning,
    build_raycluster,
    build_rayjob,
    load_raycluster,
    load_rayjob,
    migrate_gcs_ft_annotation,
)

LEGACY = Path(__file__).parents[2] / "fixtures" / "manifests" / "legacy-ft-annotation-raycluster.yaml"


def _legacy() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(LEGACY.read_text())
    return manifest


def test_the_warning_explains_the_migration() -> None:
    with pytest.warns(LegacyGcsFtAnnotationWarning) as record:
        load_raycluster(LEGACY)
    message = str(record[0].message)
    for words in (
        "ray.io/ft-enabled",
        "gcsFaultToleranceOptions",
        "migrate_gcs_ft_annotation",
        "RAY_REDIS_ADDRESS",
    ):
        assert words in message
    assert issubclass(LegacyGcsFtAnnotationWarning, RaySpecWarning)
    assert issubclass(LegacyGcsFtAnnotationWarning, FutureWarning)  # shown to users by default


def test_the_warning_is_raised_for_a_rayjob_too() -> None:
    job = build_rayjob("python main.py").to_manifest("job")
    job["metadata"]["annotations"] = {"ray.io/ft-enabled": "true"}
    with pytest.warns(LegacyGcsFtAnnotationWarning):
        load_rayjob(job)


def test_no_warning_without_the_annotation_or_when_it_says_false() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_raycluster(build_raycluster().to_manifest("c"))
        manifest = build_raycluster().to_manifest("c", annotations={"ray.io/ft-enabled": "false"})
        load_raycluster(manifest)


def test_migration_moves_every_legacy_setting_into_the_struct() -> None:
    original = _legacy()
    migrated = migrate_gcs_ft_annotation(original)
    assert original == _legacy(), "the input must not be modified"
    assert "annotations" not in migrated["metadata"]
    spec = migrated["spec"]
    assert spec["gcsFaultToleranceOptions"] == {
        "externalStorageNamespace": "legacy-ft",
        "redisPassword": {"value": "5241590000000000"},
        "redisAddress": "redis:6379",
    }
    head = spec["headGroupSpec"]
    assert head["rayStartParams"] == {"dashboard-host": "0.0.0.0"}
    assert head["template"]["spec"]["containers"][0]["env"] == [{"name": "TZ", "value": "UTC"}]
    # Everything else is untouched.
    assert spec["workerGroupSpecs"] == original["spec"]["workerGroupSpecs"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_raycluster(migrated)
    assert loaded.gcs_fault_tolerance_options is not None
    assert loaded.gcs_fault_tolerance_options.redis_address == "redis:6379"


def test_migration_keeps_secret_references_and_handles_rayjobs() -> None:
    cluster = build_raycluster().to_spec_dict()
    cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
    ]
    job = build_rayjob("python main.py").to_manifest("job")
    job["spec"]["rayClusterSpec"] = cluster
    job["metadata"]["annotations"] = {"ray.io/ft-enabled": "TRUE", "keep": "me"}
    migrated = migrate_gcs_ft_annotation(job)
    assert migrated["metadata"]["annotations"] == {"keep": "me"}
    options = migrated["spec"]["rayClusterSpec"]["gcsFaultToleranceOptions"]
    assert options == {
        "redisAddress": "redis:6379",
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
    }
    assert (
        "env" not in migrated["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    )
    load_rayjob(migrated)


def test_migration_of_a_disabled_or_absent_annotation() -> None:
    plain = build_raycluster().to_manifest("c")
    assert migrate_gcs_ft_annotation(plain) == plain
    disabled = copy.deepcopy(plain)
    disabled["metadata"]["annotations"] = {"ray.io/ft-enabled": "false"}
    assert migrate_gcs_ft_annotation(disabled) == plain


def test_unmigrated_annotation_with_struct_is_an_error_naming_the_helper() -> None:
    manifest = _legacy()
    manifest["spec"]["gcsFaultToleranceOptions"] = {"redisAddress": "redis:6379"}
    with pytest.raises(SpecValidationError) as caught:
        load_raycluster(manifest)
    paths = dict(caught.value.errors)
    assert "migrate_gcs_ft_annotation" in paths["gcs_fault_tolerance_options"]
    # ...and it also names the legacy placements the struct forbids.
    assert 'head_group.ray_start_params["redis-password"]' in paths
    assert "head_group.template.spec.containers[0].env" in paths


def _legacy_with_head_env(*env: dict[str, Any]) -> dict[str, Any]:
    manifest = _legacy()
    manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = list(env)
    return manifest


SECRET_ADDRESS = {
    "name": "RAY_REDIS_ADDRESS",
    "valueFrom": {"secretKeyRef": {"name": "redis", "key": "addr"}},
}


def test_migration_refuses_a_redis_address_given_by_reference() -> None:
    """``redisAddress`` is a plain string in the CRD: a ``valueFrom`` address cannot move there."""
    manifest = _legacy_with_head_env(SECRET_ADDRESS)
    with pytest.raises(SpecValidationError) as caught:
        migrate_gcs_ft_annotation(manifest)
    [(path, rule)] = caught.value.errors
    assert path == "spec.headGroupSpec.template.spec.containers[0].env[0]"
    for words in (
        "RAY_REDIS_ADDRESS",
        "valueFrom",
        "redisAddress",
        "plain string",
        "resolve",
        "gcsFaultToleranceOptions",
    ):
        assert words in rule
    # ...for the cluster of a RayJob too, with the path in the job.
    job = build_rayjob("python main.py").to_manifest("job")
    job["metadata"]["annotations"] = {"ray.io/ft-enabled": "true"}
    job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        SECRET_ADDRESS
    ]
    with pytest.raises(SpecValidationError, match=r"spec\.rayClusterSpec\.headGroupSpec"):
        migrate_gcs_ft_annotation(job)


def test_migration_drops_a_referenced_address_when_the_struct_already_has_one() -> None:
    """Values already in the struct win, so the env var has nothing left to say."""
    manifest = _legacy_with_head_env(SECRET_ADDRESS)
    manifest["spec"]["gcsFaultToleranceOptions"] = {"redisAddress": "redis.prod:6379"}
    migrated = migrate_gcs_ft_annotation(manifest)
    assert migrated["spec"]["gcsFaultToleranceOptions"]["redisAddress"] == "redis.prod:6379"
    assert "env" not in migrated["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    load_raycluster(migrated)


def test_migration_of_an_address_variable_without_a_value_is_the_empty_string() -> None:
    """Kubernetes reads an env var with neither ``value`` nor ``valueFrom`` as ``""``."""
    migrated = migrate_gcs_ft_annotation(_legacy_with_head_env({"name": "RAY_REDIS_ADDRESS"}))
    assert migrated["spec"]["gcsFaultToleranceOptions"]["redisAddress"] == ""
    load_raycluster(migrated)


def test_migration_moves_referenced_credentials_and_the_crd_accepts_them(crd: Any) -> None:
    """``redisPassword`` / ``redisUsername`` take ``valueFrom`` in the CRD (the same EnvVarSource)."""
    password = {"configMapKeyRef": {"name": "redis", "key": "password"}}
    username = {"secretKeyRef": {"name": "redis", "key": "user"}}
    manifest = _legacy_with_head_env(
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "REDIS_PASSWORD", "valueFrom": password},
        {"name": "REDIS_USERNAME", "valueFrom": username},
    )
    del manifest["spec"]["headGroupSpec"]["rayStartParams"]["redis-password"]
    migrated = migrate_gcs_ft_annotation(manifest)
    assert migrated["spec"]["gcsFaultToleranceOptions"] == {
        "externalStorageNamespace": "legacy-ft",
        "redisAddress": "redis:6379",
        "redisPassword": {"valueFrom": password},
        "redisUsername": {"valueFrom": username},
    }
    crd.assert_valid(migrated)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_raycluster(migrated)
    crd.assert_valid(loaded.to_manifest("legacy-ft"))


def test_migration_of_a_malformed_manifest_raises_only_spec_errors() -> None:
    manifest = _legacy_with_head_env({"name": "RAY_REDIS_ADDRESS", "value": 6379})
    with pytest.raises(SpecValidationError, match="RAY_REDIS_ADDRESS"):
        migrate_gcs_ft_annotation(manifest)
    with pytest.raises(SpecValidationError, match="manifest"):
        migrate_gcs_ft_annotation(["not", "a", "manifest"])  # type: ignore[arg-type]
