"""Client-side rules that are stricter than KubeRay v1.7: they warn, they never reject.

KubeRay v1.7 (``ValidateRayJobSpec`` / ``ValidateRayClusterSpec`` in
``ray-operator/controllers/ray/utils/validation.go``) and the CRD schema accept every spec these rules
flag. Some such specs still fail later (the API server refuses a pod KubeRay makes from them, Ray refuses
the job), some run fine (an empty ``entrypoint`` with a submitter pod that has its own command). Either
way the author may know better, so the spec is kept and sent exactly as written, and a
:class:`StricterThanKubeRayWarning` says what is likely to go wrong.

Each rule has an id; ``docs/specs.md`` lists every id with its reason, and a unit test keeps the list,
this module and the docs in step.
"""

from __future__ import annotations

import warnings

from airflow_ray_k8s.specs.base import Advice, RaySpecWarning

__all__ = ["RULES", "Advice", "StricterThanKubeRayWarning", "warn_all"]

#: Every rule id and why it is only a warning (what happens if the spec is sent anyway).
RULES: dict[str, str] = {
    "entrypoint-empty": (
        "KubeRay submits the entrypoint as the job's command (ray job submit -- <entrypoint>, or the job "
        "API), so an empty one has nothing to run; a submitter pod whose first container has its own "
        "command (K8sJobMode) needs none, and InteractiveMode gets it later"
    ),
    "submission-mode-unknown": (
        "the CRD does not restrict submissionMode and validation.go does not check it, but the operator "
        "only implements K8sJobMode, HTTPMode, InteractiveMode and SidecarMode"
    ),
    "submitter-without-container": (
        "KubeRay runs the submitter in the first container of submitterPodTemplate; without one it "
        "cannot build the submitter Job"
    ),
    "submitter-backoff-negative": (
        "KubeRay copies submitterConfig.backoffLimit into the submitter Job, which the API server "
        "refuses when it is negative"
    ),
    "entrypoint-amount-negative": (
        "KubeRay passes entrypointNumCpus / entrypointNumGpus to Ray only when they are > 0, so a "
        "negative amount reserves nothing"
    ),
    "entrypoint-resources-not-json": (
        "KubeRay passes entrypointResources through as text; Ray refuses the job at submission unless "
        "it is a JSON object of non-negative numbers"
    ),
    "pod-label-invalid": (
        "KubeRay does not check the labels of a pod template, but the API server refuses the pods it "
        "creates from one whose labels break Kubernetes' label rules"
    ),
    "group-name-not-label": (
        "KubeRay writes the group name into the ray.io/group label of the group's pods, which the API "
        "server refuses when it is not a valid label value"
    ),
    "group-name-duplicate": (
        "only KubeRay's optional RayCluster webhook rejects a repeated groupName; without it the pods of "
        "the groups carry the same ray.io/group label and are counted together"
    ),
    "replicas-out-of-range": (
        "KubeRay clamps replicas into [minReplicas, maxReplicas] (and a negative value to minReplicas) "
        "instead of rejecting it"
    ),
    "num-of-hosts-below-one": (
        "KubeRay creates numOfHosts pods per replica, so with fewer than 1 the group gets no pods"
    ),
}


class StricterThanKubeRayWarning(RaySpecWarning):
    """A spec breaks a client-side rule that KubeRay v1.7 itself does not enforce.

    The spec is kept and sent as written; :attr:`rule` is the rule's id (see ``docs/specs.md``) and
    :attr:`path` the field, in the user's Python terms.
    """

    def __init__(self, message: str, rule: str = "", path: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.path = path


def warn_all(advice: Advice, stacklevel: int) -> None:
    """Emit one :class:`StricterThanKubeRayWarning` per ``(path, problem, rule)``."""
    for path, problem, rule in advice:
        message = (
            f"{path}: {problem}. KubeRay v1.7 does not reject this, so the spec is kept as written "
            f"(rule '{rule}': {RULES[rule]})"
        )
        warnings.warn(StricterThanKubeRayWarning(message, rule, path), stacklevel=stacklevel + 1)
