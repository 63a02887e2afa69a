"""Typed RayCluster, RayJob and RayService specs that KubeRay v1.7 accepts (pure: no Kubernetes client).

Three ways to a spec, each raising only :class:`~airflow_ray_k8s.exceptions.SpecValidationError`:

- builders: ``build_rayjob("python train.py", cluster=build_raycluster(worker_gpu=1))``;
- loading: ``load_raycluster("templates/gpu.yaml", overrides={"worker_groups": [...]})``;
- models: ``RayClusterSpec.model_validate(spec_dict)``.

``spec.to_spec_dict()`` gives the camelCase ``spec`` (unknown fields kept), ``spec.to_manifest(name)``
the whole object; a loaded manifest comes back as written. Rules stricter than KubeRay v1.7 only warn
(:class:`StricterThanKubeRayWarning`, listed in docs/specs.md). Importing this package imports
pydantic: operator modules import it lazily.
"""

from airflow_ray_k8s.specs.advisories import StricterThanKubeRayWarning
from airflow_ray_k8s.specs.base import KubeModel, RaySpecWarning
from airflow_ray_k8s.specs.builders import DEFAULT_RAY_VERSION, WorkerGroup, build_raycluster, default_image
from airflow_ray_k8s.specs.gcs_ft import LegacyGcsFtAnnotationWarning, migrate_gcs_ft_annotation
from airflow_ray_k8s.specs.loading import (
    apply_overrides,
    deep_merge,
    load_raycluster,
    load_rayjob,
    load_rayservice,
)
from airflow_ray_k8s.specs.pod import Container, EnvVar, PodSpec, PodTemplate, ResourceRequirements
from airflow_ray_k8s.specs.pod_builder import GPU_RESOURCE
from airflow_ray_k8s.specs.raycluster import (
    AuthOptions,
    AutoscalerOptions,
    GcsFaultToleranceOptions,
    HeadGroupSpec,
    RayClusterSpec,
    WorkerGroupSpec,
)
from airflow_ray_k8s.specs.rayjob import DeletionRule, DeletionStrategy, RayJobSpec
from airflow_ray_k8s.specs.rayjob_builder import DEFAULT_TTL_SECONDS_AFTER_FINISHED, build_rayjob
from airflow_ray_k8s.specs.rayservice import ClusterUpgradeOptions, RayServiceSpec, RayServiceUpgradeStrategy
from airflow_ray_k8s.specs.toplevel import TopLevelModel

__all__ = [
    "DEFAULT_RAY_VERSION",
    "DEFAULT_TTL_SECONDS_AFTER_FINISHED",
    "GPU_RESOURCE",
    "AuthOptions",
    "AutoscalerOptions",
    "ClusterUpgradeOptions",
    "Container",
    "DeletionRule",
    "DeletionStrategy",
    "EnvVar",
    "GcsFaultToleranceOptions",
    "HeadGroupSpec",
    "KubeModel",
    "LegacyGcsFtAnnotationWarning",
    "PodSpec",
    "PodTemplate",
    "RayClusterSpec",
    "RayJobSpec",
    "RayServiceSpec",
    "RayServiceUpgradeStrategy",
    "RaySpecWarning",
    "ResourceRequirements",
    "StricterThanKubeRayWarning",
    "TopLevelModel",
    "WorkerGroup",
    "WorkerGroupSpec",
    "apply_overrides",
    "build_raycluster",
    "build_rayjob",
    "deep_merge",
    "default_image",
    "load_raycluster",
    "load_rayjob",
    "load_rayservice",
    "migrate_gcs_ft_annotation",
]
