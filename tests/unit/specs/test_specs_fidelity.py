"""What an author wrote comes back as written (issue 16).

A manifest that KubeRay v1.7 and its CRD accept loads without error, and writing it back gives the same
fields and values: ``runtimeEnvYAML`` / ``entrypointResources`` as the same text, integers as integers,
``metadata.generateName`` kept. A file may hold other documents beside the RayJob / RayCluster.
All manifests here are written for these tests.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import (
    RayJobSpec,
    RaySpecWarning,
    StricterThanKubeRayWarning,
    build_rayjob,
    load_raycluster,
    load_rayjob,
)
from airflow_ray_k8s.testing.emulator.validation import validate_raycluster, validate_rayjob
from tests.unit.specs.manifest_strategies import OTHER_DOCUMENTS, raycluster_manifests, rayjob_manifests

RUNTIME_ENV = """\
# Dependencies of the nightly job; keep in step with requirements.txt
working_dir: "s3://ml-artifacts/code/trainer.zip"   # pinned build
pip:
    - 'torch==2.3.1'
    - transformers==4.41.2
env_vars: {HF_HOME: /mnt/cache/hf, RETRIES: 3}
"""

JOB_YAML = f"""\
apiVersion: ray.io/v1
kind: RayJob
metadata:
  generateName: nightly-count-
  namespace: ml
  labels:
    team: ml-platform
spec:
  runtimeEnvYAML: |
{"".join("    " + line + chr(10) for line in RUNTIME_ENV.splitlines())}\
  entrypointResources: '{{"custom_accel": 1, "memory_heavy": 0.5}}'
  entrypointNumCpus: 1
  shutdownAfterJobFinishes: true
  ttlSecondsAfterFinished: 60
  submitterPodTemplate:
    spec:
      restartPolicy: Never
      containers:
        - name: submitter
          image: rayproject/ray:2.52.0
          command: ["sh", "-c", "ray job submit --address http://$RAY_ADDRESS -- python /code/count.py"]
  rayClusterSpec:
    rayVersion: "2.52.0"
    headGroupSpec:
      rayStartParams: {{}}
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.52.0
              volumeMounts: [{{name: code, mountPath: /code}}]
          volumes: [{{name: code, configMap: {{name: count-code}}}}]
"""

CONFIGMAP_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: count-code
data:
  count.py: |
    import ray
    ray.init()
    print(sum(ray.get([ray.remote(lambda i: i).remote(i) for i in range(3)])))
"""

CLUSTER_YAML = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: shared-cpu
spec:
  rayVersion: "2.52.0"
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: ray-head, image: "rayproject/ray:2.52.0"}]
"""


def _document(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _as_written(value: Any) -> str:
    """JSON with sorted keys: ``1`` and ``1.0`` differ, as they do on the wire."""
    return json.dumps(value, sort_keys=True)


def _named(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object as stored: the API server turns ``generateName`` into a name first."""
    out = copy.deepcopy(manifest)
    metadata = out["metadata"]
    metadata.setdefault("name", metadata.get("generateName", "") + "x7k2q")
    return out


def _quietly(load: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RaySpecWarning)
        return load(*args, **kwargs)


# --- 1. K8sJobMode with the submitter's own command and no entrypoint ----------------------------------


def test_a_submitter_with_its_own_command_needs_no_entrypoint(crd: Any) -> None:
    manifest = _document(JOB_YAML)
    assert "entrypoint" not in manifest["spec"]
    crd.assert_valid(_named(manifest))
    assert validate_rayjob(_named(manifest)) is None  # the local KubeRay's own rules accept it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning: KubeRay runs the submitter's command
        job = load_rayjob(manifest)
    assert job.entrypoint is None
    assert job.mode == "K8sJobMode"


@pytest.mark.parametrize("mode", [None, "K8sJobMode", "HTTPMode", "SidecarMode"])
def test_an_empty_entrypoint_only_warns(mode: str | None) -> None:
    manifest = _document(JOB_YAML)
    spec = manifest["spec"]
    del spec["submitterPodTemplate"]
    spec["entrypoint"] = ""
    if mode is not None:
        spec["submissionMode"] = mode
    assert validate_rayjob(_named(manifest)) is None
    with pytest.warns(StricterThanKubeRayWarning, match="entrypoint: is empty") as caught:
        job = load_rayjob(manifest)
    assert [w.message.rule for w in caught if isinstance(w.message, StricterThanKubeRayWarning)] == [
        "entrypoint-empty"
    ]
    assert job.to_manifest()["spec"]["entrypoint"] == ""


def test_a_submitter_without_a_command_still_needs_the_entrypoint() -> None:
    manifest = _document(JOB_YAML)
    del manifest["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["command"]
    with pytest.warns(StricterThanKubeRayWarning, match="entrypoint: is empty in K8sJobMode"):
        load_rayjob(manifest)
    manifest["spec"]["submissionMode"] = "InteractiveMode"  # the entrypoint comes later
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_rayjob(manifest)


# --- 2. runtimeEnvYAML is sent as written ---------------------------------------------------------------


def test_runtime_env_text_is_kept_byte_for_byte() -> None:
    job = load_rayjob(JOB_YAML)
    assert job.to_spec_dict()["runtimeEnvYAML"] == RUNTIME_ENV
    # It was parsed (validated) all the same, and Python reads it as a dict.
    assert job.runtime_env == {
        "working_dir": "s3://ml-artifacts/code/trainer.zip",
        "pip": ["torch==2.3.1", "transformers==4.41.2"],
        "env_vars": {"HF_HOME": "/mnt/cache/hf", "RETRIES": 3},
    }
    # Unchanged through a copy, an override of another field and a reload of the model.
    again = load_rayjob(job, overrides={"ttl_seconds_after_finished": 120})
    assert again.to_spec_dict()["runtimeEnvYAML"] == RUNTIME_ENV
    assert RayJobSpec.model_validate(job.to_spec_dict()).to_spec_dict()["runtimeEnvYAML"] == RUNTIME_ENV


def test_a_changed_runtime_env_is_written_anew() -> None:
    job = load_rayjob(JOB_YAML)
    job.runtime_env["env_vars"]["RETRIES"] = 5  # type: ignore[index]
    changed = yaml.safe_load(job.to_spec_dict()["runtimeEnvYAML"])
    assert changed["env_vars"] == {"HF_HOME": "/mnt/cache/hf", "RETRIES": 5}
    merged = load_rayjob(JOB_YAML, overrides={"runtime_env": {"env_vars": {"EXTRA": "1"}}})
    env = yaml.safe_load(merged.to_spec_dict()["runtimeEnvYAML"])
    assert env["env_vars"] == {"HF_HOME": "/mnt/cache/hf", "RETRIES": 3, "EXTRA": "1"}
    assert env["pip"] == ["torch==2.3.1", "transformers==4.41.2"]


def test_runtime_env_text_from_python_is_sent_as_given_and_still_checked() -> None:
    text = "pip: ['numpy']  # one package\n"
    job = RayJobSpec.model_validate({**_document(JOB_YAML)["spec"], "runtimeEnvYAML": text})
    assert job.to_spec_dict()["runtimeEnvYAML"] == text
    with pytest.raises(SpecValidationError, match=r"runtime_env: is not valid YAML \(line 2"):
        RayJobSpec.model_validate({**_document(JOB_YAML)["spec"], "runtimeEnvYAML": "pip: [numpy\n"})
    with pytest.raises(SpecValidationError, match="runtime_env: must be a YAML mapping"):
        RayJobSpec.model_validate({**_document(JOB_YAML)["spec"], "runtimeEnvYAML": "- numpy\n"})


@pytest.mark.parametrize("text", ["", "# filled in by the platform team\n"])
def test_an_empty_runtime_env_text_is_kept(text: str) -> None:
    job = RayJobSpec.model_validate({**_document(JOB_YAML)["spec"], "runtimeEnvYAML": text})
    assert job.runtime_env == {}
    assert job.to_spec_dict()["runtimeEnvYAML"] == text


# --- 3. entrypointResources: the same text, integers stay integers -------------------------------------


def test_entrypoint_resources_text_and_integers_are_kept() -> None:
    job = load_rayjob(JOB_YAML)
    out = job.to_spec_dict()
    assert out["entrypointResources"] == '{"custom_accel": 1, "memory_heavy": 0.5}'
    assert job.entrypoint_resources == {"custom_accel": 1, "memory_heavy": 0.5}
    assert type(job.entrypoint_resources["custom_accel"]) is int  # type: ignore[index]
    assert _as_written(out["entrypointNumCpus"]) == "1"
    built = build_rayjob("python x.py", entrypoint_resources={"a": 1, "b": 2.5}, entrypoint_num_gpus=1)
    assert built.to_spec_dict()["entrypointResources"] == '{"a": 1, "b": 2.5}'
    assert _as_written(built.to_spec_dict()["entrypointNumGpus"]) == "1"
    merged = load_rayjob(JOB_YAML, overrides={"entrypoint_resources": {"custom_accel": 2}})
    assert json.loads(merged.to_spec_dict()["entrypointResources"]) == {
        "custom_accel": 2,
        "memory_heavy": 0.5,
    }


@pytest.mark.parametrize("text", ["not json", '["a"]', '{"x": -1}', '{"x": "1"}'])
def test_entrypoint_resources_ray_would_refuse_only_warn_and_are_kept(text: str) -> None:
    manifest = _document(JOB_YAML)
    manifest["spec"]["entrypointResources"] = text
    assert validate_rayjob(_named(manifest)) is None
    with pytest.warns(StricterThanKubeRayWarning, match="entrypoint_resources"):
        job = load_rayjob(manifest)
    assert job.to_spec_dict()["entrypointResources"] == text


# --- 4. metadata.generateName ------------------------------------------------------------------------


def test_generate_name_and_the_rest_of_metadata_come_back() -> None:
    job = load_rayjob(JOB_YAML)
    assert job.object_meta == {"generateName": "nightly-count-", "namespace": "ml"}
    manifest = job.to_manifest()
    assert manifest["metadata"] == {
        "generateName": "nightly-count-",
        "namespace": "ml",
        "labels": {"team": "ml-platform"},
    }
    assert "name" not in manifest["metadata"]
    # An explicit name is used (the API server then ignores generateName); overrides keep metadata.
    named = job.with_overrides({"ttl_seconds_after_finished": 30}).to_manifest("count-1", namespace="other")
    assert named["metadata"]["name"] == "count-1"
    assert named["metadata"]["namespace"] == "other"
    assert named["metadata"]["generateName"] == "nightly-count-"
    assert (
        job.with_metadata(labels={"run": "7"}).to_manifest()["metadata"]["generateName"] == "nightly-count-"
    )


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("n" * 43, "no more than 42 characters"),
        ("Nightly-", "start with a lowercase letter"),
        ("1-nightly-", "start with a lowercase letter"),
    ],
)
def test_a_generate_name_that_cannot_make_a_valid_name_is_an_error(prefix: str, words: str) -> None:
    """KubeRay's name rule (a DNS-1035 label of at most 47 for a RayJob) holds for every generated name."""
    manifest = _document(JOB_YAML)
    manifest["metadata"]["generateName"] = prefix
    job = load_rayjob(manifest)  # the name is checked where it is used, not when loading
    with pytest.raises(SpecValidationError) as caught:
        job.to_manifest()
    assert [where for where, _ in caught.value.errors] == ["metadata.generateName"]
    assert words in str(caught.value)
    assert job.to_manifest("fine")["metadata"]["name"] == "fine"


def test_without_name_or_generate_name_to_manifest_asks_for_a_name() -> None:
    spec = load_raycluster(_document(CLUSTER_YAML)["spec"])
    with pytest.raises(SpecValidationError, match="name: is required"):
        spec.to_manifest()


# --- 5. files with several documents ---------------------------------------------------------------------


def test_the_rayjob_is_picked_from_a_file_with_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "count-job.yaml"
    path.write_text(f"{CONFIGMAP_YAML}---\n{JOB_YAML}---\n{CLUSTER_YAML}")
    job = load_rayjob(path)
    assert job.to_manifest()["metadata"]["generateName"] == "nightly-count-"
    assert job.to_spec_dict()["runtimeEnvYAML"] == RUNTIME_ENV
    cluster = load_raycluster(path)
    assert cluster.object_meta == {"name": "shared-cpu"}
    assert load_rayjob(path.read_text()).to_spec_dict() == job.to_spec_dict()  # YAML text too


@pytest.mark.parametrize(
    ("documents", "loader", "words"),
    [
        (
            [CONFIGMAP_YAML, CLUSTER_YAML],
            load_rayjob,
            "2 YAML documents and none is a RayJob (found: ConfigMap, RayCluster)",
        ),
        (
            [JOB_YAML, JOB_YAML.replace("generateName: nightly-count-", "name: other"), CONFIGMAP_YAML],
            load_rayjob,
            "2 RayJob documents (generateName 'nightly-count-', 'other'); which one to load is ambiguous",
        ),
        ([CONFIGMAP_YAML, "- a list\n"], load_raycluster, "none is a RayCluster (found: ConfigMap, a list)"),
    ],
)
def test_ambiguous_or_missing_documents_name_the_kinds(
    tmp_path: Path, documents: list[str], loader: Any, words: str
) -> None:
    path = tmp_path / "several.yaml"
    path.write_text("---\n".join(documents))
    with pytest.raises(SpecValidationError) as caught:
        loader(path)
    assert caught.value.errors[0][0] == str(path)
    assert words in str(caught.value)


def test_a_single_document_of_the_wrong_kind_is_still_an_error() -> None:
    with pytest.raises(SpecValidationError, match="kind: must be RayJob"):
        load_rayjob(CLUSTER_YAML)


# --- the property: any valid manifest comes back as written ----------------------------------------------


@pytest.mark.parametrize(
    "manifests", [rayjob_manifests(), raycluster_manifests()], ids=["RayJob", "RayCluster"]
)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_valid_manifest_loads_and_comes_back_as_written(
    crd: Any, tmp_path: Path, manifests: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    """Nothing KubeRay v1.7 and its CRD accept is rejected, and nothing loaded is changed."""
    manifest = data.draw(manifests, label="manifest")
    named = _named(manifest)
    crd.assert_valid(named)  # the strategies make only manifests the CRD schema accepts...
    validate = validate_rayjob if manifest["kind"] == "RayJob" else validate_raycluster
    assert validate(named) is None  # ...and that KubeRay's own rules (the local KubeRay's) accept
    loader = load_rayjob if manifest["kind"] == "RayJob" else load_raycluster
    spec = _quietly(loader, copy.deepcopy(manifest))
    assert _as_written(spec.to_manifest()) == _as_written(manifest)
    # The same through a YAML file that holds other documents as well.
    extra = data.draw(st.lists(st.sampled_from(OTHER_DOCUMENTS), max_size=2), label="other documents")
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all([*extra, manifest], sort_keys=False))
    assert _as_written(_quietly(loader, path).to_manifest()) == _as_written(manifest)


def test_the_property_is_not_vacuous() -> None:
    """Negative control: a change the model made to a value would be caught by the comparison."""
    manifest = _document(JOB_YAML)
    spec = load_rayjob(manifest)
    out = spec.to_manifest()
    out["spec"]["entrypointNumCpus"] = 1.0
    assert _as_written(out) != _as_written(manifest)
