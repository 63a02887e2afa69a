"""RayServiceSpec: KubeRay's ValidateRayServiceSpec and Ray Serve's schema rules, every error named
before anything is sent; serveConfigV2 text kept as written; the manifest accepted by the RayService
CRD (KubeRay v1.6.2's, read from the module the real-cluster build downloads; skipped without it)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.service_status import RayServiceStatus
from airflow_ray_k8s.specs import RayServiceSpec, build_raycluster, load_rayservice
from airflow_ray_k8s.testing.emulator.crds import rayservice_crd_path

SERVE_TEXT = """\
applications:
  - name: model   # the churn model
    import_path: serve_app:app
    route_prefix: /predict
    args: {model_uri: 's3://models/churn/7'}
    deployments:
      - name: Model
        num_replicas: 2
"""


def _spec(**fields: Any) -> dict[str, Any]:
    return {"serveConfigV2": SERVE_TEXT, "rayClusterConfig": build_raycluster().to_spec_dict(), **fields}


def _errors(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> str:
    with pytest.raises(SpecValidationError) as caught:
        RayServiceSpec.from_parts(spec, annotations=annotations)
    return str(caught.value)


def test_serve_config_text_is_sent_as_written_and_read_as_a_mapping() -> None:
    spec = load_rayservice(_spec())
    assert spec.to_manifest("churn", namespace="ml")["spec"]["serveConfigV2"] == SERVE_TEXT
    assert spec.application_names == ["model"]
    assert spec.serve_config["applications"][0]["args"] == {"model_uri": "s3://models/churn/7"}
    assert spec.upgrade_type == "NewCluster"


def test_an_override_merges_into_the_serve_config_by_application_name() -> None:
    spec = load_rayservice(_spec())
    new = spec.with_overrides(
        {"serve_config": {"applications": [{"name": "model", "args": {"model_uri": "s3://m/8"}}]}}
    )
    (app,) = yaml.safe_load(new.to_spec_dict()["serveConfigV2"])["applications"]
    assert app["args"] == {"model_uri": "s3://m/8"}
    assert app["route_prefix"] == "/predict"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "serve_config.applications: is required"),
        ({"applications": [{"name": "a"}]}, "serve_config.applications[0].import_path: is required"),
        ({"applications": [{"import_path": "nodots"}]}, "must be of the form '<module>:<attribute>'"),
        (
            {"applications": [{"import_path": "a:b", "route_prefix": "x"}]},
            "route_prefix: must start with '/'",
        ),
        ({"applications": [{"import_path": "a:b", "route_prefix": "/x/"}]}, "must not end with '/'"),
        (
            {
                "applications": [
                    {"name": "a", "import_path": "a:b"},
                    {"name": "a", "import_path": "c:d", "route_prefix": "/c"},
                ]
            },
            "applications[1].name: application name 'a' is used twice",
        ),
        (
            {"applications": [{"name": "a", "import_path": "a:b"}, {"name": "b", "import_path": "c:d"}]},
            "applications[1].route_prefix: route '/' is used by two applications",
        ),
        (
            {"applications": [{"import_path": "a:b", "deployments": [{"name": "D", "num_replicas": -1}]}]},
            "deployments[0].num_replicas: must be an integer >= 0 or 'auto'",
        ),
        ("applications: [unclosed", "serve_config: is not valid YAML"),
    ],
)
def test_serve_config_rules_name_the_field(config: Any, expected: str) -> None:
    assert expected in _errors(_spec(serveConfigV2=config))


def test_kuberays_rayservice_rules_all_at_once() -> None:
    cluster = build_raycluster().to_spec_dict()
    cluster["headGroupSpec"]["headService"] = {"metadata": {"name": "fixed"}}
    cluster["upgradeStrategy"] = {"type": "Recreate"}
    message = _errors(
        _spec(rayClusterConfig=cluster, upgradeStrategy={"type": "BlueGreen"}),
        annotations={"ray.io/initializing-timeout": "soon"},
    )
    for expected in (
        "ray_cluster_config.head_group.head_service.metadata.name: must not be set for a RayService",
        "ray_cluster_config.upgrade_strategy.type: cannot be set for a RayService's cluster",
        "upgrade_strategy.type: must be one of NewCluster, NewClusterWithIncrementalUpgrade, None",
        'metadata.annotations["ray.io/initializing-timeout"]: must be a positive Go duration',
    ):
        assert expected in message, message


def test_a_negative_deletion_delay_is_refused_by_its_shape() -> None:
    assert "ray_cluster_deletion_delay_seconds: must be >= 0" in _errors(
        _spec(rayClusterDeletionDelaySeconds=-1)
    )


def test_incremental_upgrade_needs_the_autoscaler_and_its_options() -> None:
    message = _errors(
        _spec(
            upgradeStrategy={
                "type": "NewClusterWithIncrementalUpgrade",
                "clusterUpgradeOptions": {"stepSizePercent": 150, "maxSurgePercent": -5},
            }
        )
    )
    for expected in (
        "ray_cluster_config.enable_in_tree_autoscaling: must be true",
        "cluster_upgrade_options.step_size_percent: is required, between 0 and 100",
        "cluster_upgrade_options.max_surge_percent: must be between 0 and 100",
        "cluster_upgrade_options.interval_seconds: is required, greater than 0",
        "cluster_upgrade_options.gateway_class_name: is required",
    ):
        assert expected in message, message
    cluster = build_raycluster(autoscaling=True).to_spec_dict()
    ok = load_rayservice(
        _spec(
            rayClusterConfig=cluster,
            upgradeStrategy={
                "type": "NewClusterWithIncrementalUpgrade",
                "clusterUpgradeOptions": {
                    "gatewayClassName": "istio",
                    "stepSizePercent": 10,
                    "intervalSeconds": 30,
                },
            },
        )
    )
    assert ok.upgrade_type == "NewClusterWithIncrementalUpgrade"


def test_the_name_leaves_room_for_the_cluster_suffix() -> None:
    spec = load_rayservice(_spec())
    spec.to_manifest("a" * 47)
    with pytest.raises(SpecValidationError, match="name"):
        spec.to_manifest("a" * 48)


def test_the_manifest_is_accepted_by_the_rayservice_crd() -> None:
    import jsonschema

    from tests.unit.specs.conftest import to_jsonschema

    path = rayservice_crd_path()
    if path is None:
        pytest.skip("the RayService CRD is not here: run `make kuberay-crds` or set KUBERAY_RAYSERVICE_CRD")
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    cluster = build_raycluster(autoscaling=True).to_spec_dict()
    manifest = load_rayservice(
        _spec(
            rayClusterConfig=cluster,
            rayClusterDeletionDelaySeconds=5,
            upgradeStrategy={
                "type": "NewClusterWithIncrementalUpgrade",
                "clusterUpgradeOptions": {
                    "gatewayClassName": "istio",
                    "stepSizePercent": 10,
                    "intervalSeconds": 30,
                },
            },
        )
    ).to_manifest("churn", namespace="ml")
    errors = [e.message for e in jsonschema.Draft7Validator(to_jsonschema(schema)).iter_errors(manifest)]
    assert not errors, errors


def test_status_reads_an_upgrade_in_progress_and_round_trips() -> None:
    obj = {
        "metadata": {"name": "churn", "namespace": "ml", "generation": 3},
        "status": {
            "observedGeneration": 3,
            "serviceStatus": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints"},
                {"type": "UpgradeInProgress", "status": "True", "reason": "BothActivePendingClustersExist"},
            ],
            "activeServiceStatus": {
                "rayClusterName": "churn-aaaaa",
                "applicationStatuses": {
                    "model": {"status": "RUNNING", "serveDeploymentStatuses": {"M": {"status": "HEALTHY"}}}
                },
            },
            "pendingServiceStatus": {
                "rayClusterName": "churn-bbbbb",
                "applicationStatuses": {"model": {"status": "DEPLOY_FAILED", "message": "ImportError"}},
            },
        },
    }
    status = RayServiceStatus.from_object(obj)
    assert status.upgrading
    assert not status.is_ready
    assert [a.name for a in status.failed_applications] == ["model"]
    assert status.active.application("model") is not None
    assert status.active.application("model").is_healthy  # type: ignore[union-attr]
    assert "pending cluster churn-bbbbb: model: DEPLOY_FAILED (ImportError)" in status.describe()
    assert RayServiceStatus.from_json(status.to_json()) == status
    assert RayServiceStatus.from_object({"status": {"conditions": "junk"}}).describe() == "no status yet"
