"""The RayService spec (``ray.io/v1``), with KubeRay's ``ValidateRayServiceSpec`` mirrored client-side.

A RayService KubeRay rejects is accepted by the API server and then never serves (the operator only
records an ``InvalidRayServiceSpec`` event and a ``Ready=False, ValidationFailed`` condition);
checking the same rules here turns that into an immediate error in the DAG. The rules cite
``validation.go`` of KubeRay v1.6.2 (the newest release whose sources are available here: the
module proxy answers 403 for v1.7.0) and the CRD's schema. The fields are those of the v1.6.2 CRD,
which already has ``NewClusterWithIncrementalUpgrade`` and ``clusterUpgradeOptions`` (alpha since
v1.5.1 behind the ``RayServiceIncrementalUpgrade`` feature gate, off by default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainSerializer, PlainValidator

from airflow_ray_k8s.naming import MAX_RAYCLUSTER_NAME_LENGTH, RAYJOB_CLUSTER_SUFFIX_LENGTH
from airflow_ray_k8s.specs import serve_config as serve
from airflow_ray_k8s.specs import text_fields
from airflow_ray_k8s.specs.base import Errors, Int32, KubeModel, join_path
from airflow_ray_k8s.specs.raycluster import NonNegInt32, RayClusterSpec
from airflow_ray_k8s.specs.toplevel import TopLevelModel

#: ``MaxRayServiceNameLength``: the cluster KubeRay names ``<service>-<5 chars>`` must still fit.
MAX_RAYSERVICE_NAME_LENGTH = MAX_RAYCLUSTER_NAME_LENGTH - RAYJOB_CLUSTER_SUFFIX_LENGTH

#: ``upgradeStrategy.type`` values ``ValidateRayServiceSpec`` accepts.
UPGRADE_NEW_CLUSTER = "NewCluster"
UPGRADE_INCREMENTAL = "NewClusterWithIncrementalUpgrade"
UPGRADE_NONE = "None"
UPGRADE_TYPES = (UPGRADE_NEW_CLUSTER, UPGRADE_INCREMENTAL, UPGRADE_NONE)

#: The operator's feature gate that makes ``NewClusterWithIncrementalUpgrade`` take effect.
INCREMENTAL_UPGRADE_GATE = "RayServiceIncrementalUpgrade"

#: ``serveConfigV2``: YAML text on the wire (the author's text is sent as written), a dict in Python.
ServeConfig = Annotated[
    dict[str, Any],
    PlainValidator(serve.validate_serve_config),
    PlainSerializer(serve.render_serve_config, return_type=str),
]


#: ``ray.io/initializing-timeout``: how long a new RayService may take to become ready before KubeRay
#: marks it failed (a Go duration such as ``10m``, or whole seconds).
INITIALIZING_TIMEOUT_ANNOTATION = "ray.io/initializing-timeout"
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def initializing_timeout_errors(annotations: Mapping[str, str]) -> Errors:
    """``validateInitializingTimeout`` (in ``ValidateRayServiceMetadata``)."""
    value = annotations.get(INITIALIZING_TIMEOUT_ANNOTATION)
    if not value:
        return []
    where = join_path("metadata", "annotations", INITIALIZING_TIMEOUT_ANNOTATION)
    if value.isdigit():
        return [] if int(value) > 0 else [(where, "must be a positive number of seconds")]
    if _GO_DURATION.fullmatch(value) and any(ch in "123456789" for ch in value):
        return []
    return [(where, "must be a positive Go duration such as '10m' or '1h', or whole seconds")]


class ClusterUpgradeOptions(KubeModel):
    """``upgradeStrategy.clusterUpgradeOptions`` of ``NewClusterWithIncrementalUpgrade``.

    :param gateway_class_name: the Gateway API class that splits traffic between the clusters.
    :param step_size_percent: percent of traffic moved to the new cluster per step (0-100).
    :param interval_seconds: seconds between steps (> 0).
    :param max_surge_percent: percent of capacity the new cluster may add per step (0-100,
        KubeRay's default 100).
    """

    gateway_class_name: str | None = None
    step_size_percent: Int32 | None = None
    interval_seconds: Int32 | None = None
    max_surge_percent: Int32 | None = None

    def rule_errors(self, path: str = "") -> Errors:
        """``ValidateClusterUpgradeOptions``."""
        errors: Errors = []
        if self.max_surge_percent is not None and not 0 <= self.max_surge_percent <= 100:
            errors.append((join_path(path, "max_surge_percent"), "must be between 0 and 100"))
        if self.step_size_percent is None or not 0 <= self.step_size_percent <= 100:
            errors.append((join_path(path, "step_size_percent"), "is required, between 0 and 100"))
        if self.interval_seconds is None or self.interval_seconds <= 0:
            errors.append((join_path(path, "interval_seconds"), "is required, greater than 0"))
        if not self.gateway_class_name:
            errors.append((join_path(path, "gateway_class_name"), "is required"))
        return errors


class RayServiceUpgradeStrategy(KubeModel):
    """``upgradeStrategy``: how KubeRay rolls out a change that needs a new RayCluster.

    :param type: ``NewCluster`` (KubeRay's default: a pending cluster at full size, traffic switched
        once its applications are healthy, then the old one deleted), ``NewClusterWithIncrementalUpgrade``
        (traffic moved step by step through a Gateway; needs the operator's feature gate, the
        autoscaler and ``cluster_upgrade_options``) or ``None`` (changes to the cluster are not rolled out).
    :param cluster_upgrade_options: the steps of an incremental upgrade.
    """

    # CRD: a string without an enum; ValidateRayServiceSpec names the three values.
    type: str | None = None
    cluster_upgrade_options: ClusterUpgradeOptions | None = None


class RayServiceSpec(TopLevelModel):
    """The ``spec`` of a RayService: a RayCluster and the Ray Serve applications it serves.

    Load one with :func:`airflow_ray_k8s.specs.load_rayservice`, or construct it from its parts.

    :param serve_config: ``serveConfigV2``: the Serve config as a dict (``applications`` list with
        ``name``, ``import_path``, ``route_prefix``, ``args``, ``runtime_env``, ``deployments``) or as
        YAML text (sent as written while unchanged). Checked against Serve's schema rules.
    :param ray_cluster_config: ``rayClusterConfig``: the cluster to serve on (required).
    :param upgrade_strategy: how a change that needs a new cluster is rolled out.
    :param service_unhealthy_second_threshold: ``serviceUnhealthySecondThreshold`` (kept: the CRD has it;
        KubeRay v1.6.2's controller does not read it).
    :param deployment_unhealthy_second_threshold: ``deploymentUnhealthySecondThreshold`` (likewise).
    :param ray_cluster_deletion_delay_seconds: how long the old cluster lives after the switch
        (KubeRay's default 60 s).
    :param exclude_head_pod_from_serve_svc: route Serve traffic only to worker pods.
    :param serve_service: a Service template for ``<service>-serve-svc``.
    :param managed_by: ``ray.io/kuberay-operator`` or ``kueue.x-k8s.io/multikueue``; immutable.
    """

    serve_config: ServeConfig | None = Field(default=None, alias="serveConfigV2")
    ray_cluster_config: RayClusterSpec = Field(alias="rayClusterConfig")
    upgrade_strategy: RayServiceUpgradeStrategy | None = None
    service_unhealthy_second_threshold: Int32 | None = None
    deployment_unhealthy_second_threshold: Int32 | None = None
    # CRD: minimum 0.
    ray_cluster_deletion_delay_seconds: NonNegInt32 | None = None
    exclude_head_pod_from_serve_svc: bool | None = None
    serve_service: dict[str, Any] | None = None
    # CRD: CEL rule on managedBy.
    managed_by: Literal["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"] | None = None

    KIND: ClassVar[str] = "RayService"
    MAX_NAME_LENGTH: ClassVar[int] = MAX_RAYSERVICE_NAME_LENGTH

    @classmethod
    def mergeable(cls, spec: Any) -> Any:
        """``serveConfigV2`` as a dict, so an override merges into it."""
        if not isinstance(spec, Mapping):
            return spec
        out = dict(spec)
        if "serveConfigV2" in out:
            out["serveConfigV2"] = text_fields.mergeable(out["serveConfigV2"], serve.parse_serve_config)
        return out

    @property
    def upgrade_type(self) -> str:
        """The upgrade type in effect (KubeRay's default is ``NewCluster``)."""
        strategy = self.upgrade_strategy
        return (strategy.type if strategy is not None and strategy.type else None) or UPGRADE_NEW_CLUSTER

    @property
    def application_names(self) -> list[str]:
        """The Serve applications the config deploys."""
        return serve.application_names(self.serve_config or {})

    def rule_errors(self, path: str = "") -> Errors:
        """KubeRay's ``ValidateRayServiceSpec`` and Serve's schema rules, every error at once.

        ``NewClusterWithIncrementalUpgrade``'s options are checked whenever that type is asked for:
        KubeRay checks them only with its feature gate on, and otherwise ignores the type (the
        operator then upgrades as ``NewCluster``); asking for it with broken options is a mistake
        either way.
        """
        errors: Errors = []
        cluster_path = join_path(path, "ray_cluster_config")
        cluster = self.ray_cluster_config
        if cluster.auth_options is not None and cluster.auth_options.enable_k8s_token_auth:
            errors.append(
                (
                    join_path(cluster_path, "auth_options", "enable_k8s_token_auth"),
                    "is not supported for a RayService",
                )
            )
        errors.extend(cluster.rule_errors(cluster_path, self.annotations))
        if cluster.upgrade_strategy is not None and cluster.upgrade_strategy.type is not None:
            # ValidateRayClusterUpgradeOptions: not for a cluster a RayService creates.
            errors.append(
                (
                    join_path(cluster_path, "upgrade_strategy", "type"),
                    "cannot be set for a RayService's cluster (use the RayService's upgrade_strategy)",
                )
            )
        errors.extend(initializing_timeout_errors(self.annotations))
        head_service = cluster.head_group.head_service or {}
        if ((head_service.get("metadata") or {}) if isinstance(head_service, Mapping) else {}).get("name"):
            errors.append(
                (
                    join_path(cluster_path, "head_group", "head_service", "metadata", "name"),
                    "must not be set for a RayService (KubeRay names the head service per cluster)",
                )
            )
        strategy = self.upgrade_strategy
        if strategy is not None and strategy.type is not None and strategy.type not in UPGRADE_TYPES:
            errors.append(
                (join_path(path, "upgrade_strategy", "type"), f"must be one of {', '.join(UPGRADE_TYPES)}")
            )
        if strategy is not None and strategy.type == UPGRADE_INCREMENTAL:
            strategy_path = join_path(path, "upgrade_strategy")
            if not cluster.autoscaling_enabled:
                errors.append(
                    (
                        join_path(cluster_path, "enable_in_tree_autoscaling"),
                        f"must be true: {UPGRADE_INCREMENTAL} needs the Ray autoscaler",
                    )
                )
            options = strategy.cluster_upgrade_options
            if options is None:
                errors.append(
                    (
                        join_path(strategy_path, "cluster_upgrade_options"),
                        f"is required for {UPGRADE_INCREMENTAL}",
                    )
                )
            else:
                errors.extend(options.rule_errors(join_path(strategy_path, "cluster_upgrade_options")))
        if self.serve_config is not None:  # optional in the CRD; the deploy operator requires it
            errors.extend(serve.serve_config_errors(self.serve_config, join_path(path, "serve_config")))
        return errors

    def advisories(self, path: str = "") -> Any:
        """The cluster's advisories (rules stricter than KubeRay): warnings only."""
        return self.ray_cluster_config.advisories(join_path(path, "ray_cluster_config"))

    def rule_warnings(self) -> list[tuple[str, type[Warning]]]:
        from airflow_ray_k8s.specs.gcs_ft import legacy_ft_warning

        has_options = self.ray_cluster_config.gcs_fault_tolerance_options is not None
        return list(legacy_ft_warning(self.annotations, has_options))
