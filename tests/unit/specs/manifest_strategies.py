"""Hypothesis strategies for whole RayCluster / RayJob manifests that KubeRay v1.7 and its CRD accept.

Written for these tests, as an author would write manifests by hand: text fields with comments and
odd quoting, integers where floats would do, ``generateName`` instead of a name, and the things only
the client's stricter rules complain about (odd group names, replicas KubeRay clamps, pod labels the
API server refuses, an empty entrypoint, an unknown submission mode...). What they never produce is
something KubeRay's own validation (``validation.go``) or the CRD schema rejects: that is the point
of the property these strategies feed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: DNS-1035 names short enough for a RayJob (47) once ``generateName`` gets its 5 characters.
names = st.from_regex(r"\A[a-z]([-a-z0-9]{0,14}[a-z0-9])?\Z")
prefixes = st.from_regex(r"\A[a-z][-a-z0-9]{0,14}-\Z")
label_keys = st.sampled_from(["team", "app.kubernetes.io/part-of", "example.com/tier", "cost-center"])
label_values = st.from_regex(r"\A[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?\Z")
#: Label values the API server refuses in a pod, but KubeRay never checks in a pod template.
bad_label_values = st.sampled_from(["has space", "-leading-dash", "x" * 70, "trailing."])
label_maps = st.dictionaries(label_keys, label_values, min_size=1, max_size=3)
text_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
quantities = st.one_of(
    st.integers(0, 64), st.sampled_from(["500m", "2", "1.5", "4Gi", "512Mi", "1e3", "250M", "0.5"])
)

#: runtimeEnvYAML as authors write it: comments, quotes, flow style, odd indentation, anchors.
RUNTIME_ENV_TEXTS = [
    "pip: [numpy, 'pandas>=2']\n",
    '# the job\'s dependencies\nworking_dir: "s3://bucket/code.zip"  # pinned\npip:\n    - torch==2.3.1\n',
    "env_vars:\n  A: '1'\n  B: \"two\"\n  C: 3\n",
    "env_vars: {WANDB_MODE: offline, DAY: 2026-01-01}\nconfig:\n  setup_timeout_seconds: 600\n",
    "base: &base {A: '1'}\nenv_vars: *base\n",
    "",
    "# nothing yet\n",
    "{}",
    "pip:\n- requests\n-   rich\nexcludes: ['*.pyc']\n",
    "py_modules:\n  - s3://bucket/lib.zip\nenv_vars:\n  MULTI: |\n    line one\n    line two\n",
]

#: entrypointResources as authors write it: integers stay integers; some text Ray would refuse.
ENTRYPOINT_RESOURCES_TEXTS = [
    '{"custom_a": 1}',
    '{"custom_a": 1, "custom_b": 0.5}',
    '{ "accelerator_type:A100" : 2 }',
    "{}",
    '{"x": -1}',
    "not json",
    '["a list"]',
    '{"x": "1"}',
]

SUBMISSION_MODES = [None, "K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode", "BatchMode"]
HEAD_ENV_NAMES = ["TZ", "LOG_LEVEL", "RAY_LOG_TO_STDERR", "MY_FLAG"]


@st.composite
def containers(draw: st.DrawFn, name: str, *, command: bool | None = None) -> dict[str, Any]:
    """A container; ``command`` True / False forces one, None draws it."""
    container: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        container["image"] = draw(st.sampled_from(["rayproject/ray:2.52.0", "registry.example.com/ray:dev"]))
    if command or (command is None and draw(st.booleans())):
        container["command"] = draw(st.lists(st.sampled_from(["python", "-m", "job", "--x=1"]), min_size=1))
    env = draw(st.lists(st.sampled_from(HEAD_ENV_NAMES), unique=True, max_size=3))
    if env:
        container["env"] = [
            {"name": var, "value": draw(text_values)}
            if draw(st.booleans())
            else {"name": var, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
            for var in env
        ]
    if draw(st.booleans()):
        container["resources"] = {
            part: draw(st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), quantities))
            for part in draw(st.lists(st.sampled_from(["requests", "limits"]), unique=True, min_size=1))
        }
    if draw(st.booleans()):
        container["ports"] = [{"containerPort": draw(st.integers(1, 65535)), "name": "dashboard"}]
    return container


@st.composite
def pod_templates(
    draw: st.DrawFn, role: str, *, restart_policy: bool = True, command: bool | None = None
) -> dict[str, Any]:
    """A pod template with one or two containers; pod labels may break Kubernetes' rules."""
    count = draw(st.integers(1, 2))
    spec: dict[str, Any] = {
        "containers": [
            draw(containers(f"{role}-{i}", command=command if i == 0 else False)) for i in range(count)
        ]
    }
    if restart_policy and draw(st.booleans()):
        spec["restartPolicy"] = draw(st.sampled_from(["Never", "OnFailure", "Always"]))
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(
            st.dictionaries(st.sampled_from(["pool", "zone"]), label_values, min_size=1)
        )
    if draw(st.booleans()):
        spec["tolerations"] = [
            {"key": "dedicated", "operator": "Equal", "value": "ray", "effect": "NoSchedule"}
        ]
    if draw(st.booleans()):
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    template: dict[str, Any] = {"spec": spec}
    if draw(st.booleans()):
        labels = draw(st.dictionaries(label_keys, st.one_of(label_values, bad_label_values), min_size=1))
        template["metadata"] = {"labels": labels}
    return template


@st.composite
def ray_start_params(draw: st.DrawFn, *, resource_keys: bool) -> dict[str, str]:
    keys = ["dashboard-host", "metrics-export-port", "object-store-memory"]
    if resource_keys:
        keys += ["num-cpus", "num-gpus"]
    return draw(st.dictionaries(st.sampled_from(keys), st.sampled_from(["0", "1", "0.0.0.0", "8080"])))


@st.composite
def worker_groups(draw: st.DrawFn, *, v2: bool, autoscaling: bool) -> list[dict[str, Any]]:
    """0-3 groups; names may repeat or not be label values, replicas may lie outside [min, max]."""
    count = draw(st.integers(0, 3))
    pool = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    groups = []
    for _ in range(count):
        name = draw(st.one_of(st.sampled_from(pool), st.sampled_from(["GPU Workers", "x" * 70])))
        low = draw(st.integers(0, 4))
        high = draw(st.integers(low, low + 6))
        group: dict[str, Any] = {"groupName": name, "minReplicas": low, "maxReplicas": high}
        if draw(st.booleans()):
            group["replicas"] = draw(st.integers(-2, high + 3))
        if draw(st.booleans()):
            group["numOfHosts"] = draw(st.integers(0, 4))
        resources = draw(st.booleans())
        group["rayStartParams"] = draw(ray_start_params(resource_keys=not resources))
        if resources:
            group["resources"] = {"CPU": "2", "example.com/accel": "1"}
        if draw(st.booleans()):
            group["labels"] = draw(label_maps)  # Ray node labels: KubeRay checks these
        if v2 and draw(st.booleans()):
            group["idleTimeoutSeconds"] = draw(st.integers(0, 600))
        group["template"] = draw(pod_templates(f"worker{len(groups)}", restart_policy=not v2))
        groups.append(group)
    return groups


@st.composite
def cluster_specs(draw: st.DrawFn, *, sidecar: bool = False) -> dict[str, Any]:
    """A ``RayCluster`` spec (or a RayJob's ``rayClusterSpec``) KubeRay v1.7 accepts."""
    autoscaling = draw(st.booleans())
    v2 = autoscaling and draw(st.booleans())
    head: dict[str, Any] = {
        "rayStartParams": draw(ray_start_params(resource_keys=True)),
        "template": draw(pod_templates("head", restart_policy=not (v2 or sidecar))),
    }
    if draw(st.booleans()):
        head["serviceType"] = draw(st.sampled_from(["ClusterIP", "NodePort"]))
    spec: dict[str, Any] = {
        "rayVersion": draw(st.sampled_from(["2.52.0", "2.55.1"])),
        "headGroupSpec": head,
        "workerGroupSpecs": draw(worker_groups(v2=v2, autoscaling=autoscaling)),
    }
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
        options: dict[str, Any] = {}
        if v2:
            options["version"] = "v2"
        if draw(st.booleans()):
            options["upscalingMode"] = draw(st.sampled_from(["Default", "Aggressive", "Conservative"]))
        if draw(st.booleans()):
            options["idleTimeoutSeconds"] = draw(st.integers(0, 3600))
        if options:
            spec["autoscalerOptions"] = options
    elif draw(st.booleans()):
        spec["enableInTreeAutoscaling"] = False
    if draw(st.booleans()):
        spec["authOptions"] = draw(st.sampled_from([{"mode": "disabled"}, {"mode": "token"}]))
    if draw(st.booleans()):
        spec["headServiceAnnotations"] = {"example.com/lb": "internal"}
    return spec


@st.composite
def object_metadata(draw: st.DrawFn) -> dict[str, Any]:
    """``metadata`` with a name, a ``generateName``, or both, and what an author may add."""
    how = draw(st.sampled_from(["name", "generateName", "both"]))
    metadata: dict[str, Any] = {}
    if how != "generateName":
        metadata["name"] = draw(names)
    if how != "name":
        metadata["generateName"] = draw(prefixes)
    if draw(st.booleans()):
        metadata["namespace"] = draw(names)
    if draw(st.booleans()):
        metadata["labels"] = draw(label_maps)
    if draw(st.booleans()):
        metadata["annotations"] = {"example.com/owner": draw(text_values), "note": "free text: any string"}
    if draw(st.booleans()):
        metadata["finalizers"] = ["example.com/keep"]
    return metadata


@st.composite
def raycluster_manifests(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(cluster_specs())
    if draw(st.booleans()):
        spec["suspend"] = draw(st.booleans())
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": draw(object_metadata()),
        "spec": spec,
    }


_TTL_ORDER = ("DeleteWorkers", "DeleteCluster", "DeleteSelf")


@st.composite
def deletion_rules(draw: st.DrawFn, *, own_cluster: bool, autoscaling: bool) -> list[dict[str, Any]]:
    """Rules KubeRay accepts: per status, TTLs that grow Workers <= Cluster <= Self."""
    policies = [p for p in _TTL_ORDER if own_cluster or p == "DeleteSelf"]
    if autoscaling and "DeleteWorkers" in policies:
        policies.remove("DeleteWorkers")
    rules: list[dict[str, Any]] = []
    for key, status in (
        ("jobStatus", "SUCCEEDED"),
        ("jobStatus", "FAILED"),
        ("jobDeploymentStatus", "Failed"),
    ):
        ttl = 0
        for policy in [p for p in policies if draw(st.booleans())]:
            ttl += draw(st.integers(0, 600))
            condition: dict[str, Any] = {key: status}
            if ttl or draw(st.booleans()):
                condition["ttlSeconds"] = ttl
            rules.append({"policy": policy, "condition": condition})
    return rules or [{"policy": "DeleteNone", "condition": {"jobStatus": "FAILED"}}]


@st.composite
def rayjob_manifests(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(SUBMISSION_MODES))
    selector = mode != "SidecarMode" and draw(st.booleans())
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["submissionMode"] = mode
    autoscaling = False
    if selector:
        spec["clusterSelector"] = {"ray.io/cluster": draw(names)}
    else:
        cluster = draw(cluster_specs(sidecar=mode == "SidecarMode"))
        autoscaling = bool(cluster.get("enableInTreeAutoscaling"))
        spec["rayClusterSpec"] = cluster
    entrypoint = draw(st.sampled_from(["python /home/ray/jobs/count.py --n 3", "", None]))
    if entrypoint is not None:
        spec["entrypoint"] = entrypoint
    if draw(st.booleans()):
        spec["runtimeEnvYAML"] = draw(st.sampled_from(RUNTIME_ENV_TEXTS))
    if draw(st.booleans()):
        spec["entrypointResources"] = draw(st.sampled_from(ENTRYPOINT_RESOURCES_TEXTS))
    for key in ("entrypointNumCpus", "entrypointNumGpus"):
        if draw(st.booleans()):
            spec[key] = draw(st.sampled_from([0, 1, 2, 0.5, 1.0, -1]))
    if draw(st.booleans()):
        spec["jobId"] = draw(names)
    if draw(st.booleans()):
        spec["metadata"] = {"pipeline": draw(text_values)}
    if mode != "SidecarMode":
        if draw(st.booleans()):
            # With its own command the submitter needs no entrypoint; an empty container list or a
            # missing spec is what only the client complains about.
            template = draw(
                st.one_of(
                    pod_templates("submitter", command=draw(st.booleans())),
                    st.just({"spec": {"containers": []}}),
                    st.just({"metadata": {"labels": {"team": "ml"}}}),
                )
            )
            spec["submitterPodTemplate"] = template
        if draw(st.booleans()):
            spec["submitterConfig"] = {"backoffLimit": draw(st.integers(-1, 3))}
    if not selector and mode != "InteractiveMode" and draw(st.booleans()):
        spec["backoffLimit"] = draw(st.integers(0, 3))
    elif draw(st.booleans()):
        spec["backoffLimit"] = 0
    cleanup = draw(st.sampled_from(["shutdown", "keep", "rules", "legacy"]))
    if cleanup == "shutdown":
        spec["shutdownAfterJobFinishes"] = True
        if draw(st.booleans()):
            spec["ttlSecondsAfterFinished"] = draw(st.integers(0, 86400))
        if not selector and draw(st.booleans()):
            spec["suspend"] = draw(st.booleans())
    elif cleanup == "keep":
        if draw(st.booleans()):
            spec["shutdownAfterJobFinishes"] = False
        if draw(st.booleans()):
            spec["ttlSecondsAfterFinished"] = 0
    elif cleanup == "rules":
        if draw(st.booleans()):
            spec["shutdownAfterJobFinishes"] = False
        rules = draw(deletion_rules(own_cluster=not selector, autoscaling=autoscaling))
        spec["deletionStrategy"] = {"deletionRules": rules}
    else:
        allowed = ["DeleteSelf", "DeleteNone"] + ([] if selector else ["DeleteCluster"])
        if not selector and not autoscaling:
            allowed.append("DeleteWorkers")
        spec["deletionStrategy"] = {
            "onSuccess": {"policy": draw(st.sampled_from(allowed))},
            "onFailure": {"policy": draw(st.sampled_from(allowed))},
        }
    if draw(st.booleans()):
        spec["activeDeadlineSeconds"] = draw(st.integers(1, 86400))
    if draw(st.booleans()):
        spec["preRunningDeadlineSeconds"] = draw(st.integers(1, 3600))
    if draw(st.booleans()):
        spec["managedBy"] = "ray.io/kuberay-operator"
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": draw(object_metadata()), "spec": spec}


#: Documents that sit beside a RayJob / RayCluster in one file, as in KubeRay's samples.
OTHER_DOCUMENTS = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "job-code"},
        "data": {"count.py": "import ray\nray.init()\nprint(sum(range(3)))\n"},
    },
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ray-runner"}},
]
