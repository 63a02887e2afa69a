"""The parts of a pod template that the Ray rules look at; everything else passes through.

Why not the ``kubernetes`` client's ``V1PodTemplateSpec``: importing it costs ~0.5 s and tens of
MB, its models use snake_case attributes and drop fields they do not know (a newer Kubernetes'
pod field would be lost on the round trip), and it does not validate anything. These small
models check the shape KubeRay needs (containers, env, resources, restart policy) and keep the
rest of a pod template exactly as written; the real CRD schema checks the rest in the tests.
"""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.specs.base import Advice, KubeModel, StringMap, join_path, label_errors
from airflow_ray_k8s.specs.quantity import Quantity


class TemplateMetadata(KubeModel):
    """A pod template's ``metadata``.

    :param labels: pod labels.
    :param annotations: pod annotations.
    """

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    def advisories(self, path: str = "") -> Advice:
        # KubeRay does not check pod labels; the API server refuses the pods made from them.
        return [
            (where, rule, "pod-label-invalid")
            for where, rule in label_errors(self.labels, join_path(path, "labels"))
        ]


class EnvVar(KubeModel):
    """One container environment variable.

    :param name: the variable's name.
    :param value: its literal value (a string: Kubernetes does not accept numbers here).
    :param value_from: a ``valueFrom`` source (``secretKeyRef``, ``configMapKeyRef``, ...).
    """

    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class ResourceRequirements(KubeModel):
    """A container's ``resources``.

    :param requests: e.g. ``{"cpu": "2", "memory": "8Gi"}``.
    :param limits: e.g. ``{"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1}``.
    """

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class Container(KubeModel):
    """A container; KubeRay runs Ray in the first container of each pod template.

    :param name: container name.
    :param image: container image.
    :param command: the container's command (a submitter's own command replaces KubeRay's).
    :param env: environment variables.
    :param resources: requests and limits; KubeRay derives Ray's CPUs / GPUs / memory from them.
    """

    name: str
    image: str | None = None
    command: list[str] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None

    def env_var(self, name: str) -> EnvVar | None:
        """The variable called ``name``, if the container sets it."""
        return next((var for var in self.env or () if var.name == name), None)


class PodSpec(KubeModel):
    """A pod's ``spec``: the fields the Ray rules read are typed, the rest pass through.

    :param containers: at least one; the first is the Ray container.
    :param restart_policy: ``Always`` / ``OnFailure`` / ``Never``.
    :param service_account_name: the pods' service account.
    :param node_selector: node labels the pods must match.
    :param tolerations: taints the pods tolerate (Kubernetes toleration dicts).
    :param volumes: pod volumes (Kubernetes volume dicts).
    """

    containers: list[Container]
    restart_policy: str | None = None
    service_account_name: str | None = None
    node_selector: StringMap | None = None
    tolerations: list[dict[str, Any]] | None = None
    volumes: list[dict[str, Any]] | None = None


class PodTemplate(KubeModel):
    """A pod template (``template`` of a Ray group, ``submitterPodTemplate`` of a RayJob).

    :param metadata: pod labels and annotations.
    :param spec: the pod spec (optional in the CRD; KubeRay needs at least one container in it).
    """

    metadata: TemplateMetadata | None = None
    spec: PodSpec | None = None

    @property
    def containers(self) -> list[Container]:
        """The pod's containers (none when the template has no ``spec``)."""
        return self.spec.containers if self.spec is not None else []

    @property
    def restart_policy(self) -> str | None:
        """The pod's ``restartPolicy``, if set."""
        return self.spec.restart_policy if self.spec is not None else None

    @property
    def ray_container(self) -> Container | None:
        """The container KubeRay runs Ray in (the first one)."""
        return self.containers[0] if self.containers else None

    def advisories(self, path: str = "") -> Advice:
        return self.metadata.advisories(join_path(path, "metadata")) if self.metadata is not None else []
