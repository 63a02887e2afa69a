"""``docker-compose.yaml`` validates against the Compose Specification and wires what it promises.

The schema is the one check-jsonschema vendors (``vendor/compose-spec.json``), pinned by uv.lock,
so the check needs neither a network nor a Docker engine. ``docker compose config`` is run too
when the Compose plugin is installed (it is not on every machine: then that one test skips).
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_ray_k8s.kube.config import ConnectionSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_COMPONENTS = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


@pytest.fixture(scope="module")
def validator() -> Any:
    text = (
        importlib.resources.files("check_jsonschema.builtin_schemas") / "vendor" / "compose-spec.json"
    ).read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _services(compose: dict[str, Any], profile: str) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if profile in svc.get("profiles", [])}


def _conn(service: dict[str, Any]) -> dict[str, Any]:
    conn: dict[str, Any] = json.loads(service["environment"]["AIRFLOW_CONN_KUBERAY_DEFAULT"])
    return conn


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of the short-syntax volumes."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def test_compose_file_is_valid_under_the_compose_specification(
    validator: Any, compose: dict[str, Any]
) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda c: c["services"]["k3s"].update(prots=["6443:6443"]), "services/k3s"),
        (lambda c: c["services"]["postgres"]["healthcheck"].update(intervall="5s"), "healthcheck"),
        (lambda c: c.update(volume={}), ""),
        (
            lambda c: c["services"]["airflow-init"].update(depends_on={"postgres": {"condition": "ready"}}),
            "condition",
        ),
    ],
)
def test_the_schema_rejects_broken_files(
    validator: Any, compose: dict[str, Any], mutate: Any, where: str
) -> None:
    broken = json.loads(json.dumps(compose))
    mutate(broken)
    errors = list(validator.iter_errors(broken))
    assert errors
    assert any(where in "/".join(map(str, e.absolute_path)) or where in e.message for e in errors)


def test_k3s_profile_runs_every_airflow_3_component_on_postgres(compose: dict[str, Any]) -> None:
    k3s = _services(compose, "k3s")
    assert AIRFLOW_COMPONENTS | {"airflow-init", "postgres", "k3s", "kuberay-install"} <= set(k3s)
    for name in AIRFLOW_COMPONENTS:
        svc = k3s[name]
        env = svc["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert svc["build"]["dockerfile"] == "deploy/airflow.Dockerfile"
        # The example DAGs find their Ray programs where the k3s node mounts them.
        node_path = {v: k for k, v in _mounts(k3s["k3s"]).items()}["./dags_examples/ray_programs"]
        assert env["RAY_PROGRAMS_DIR"] == env["RAY_PROGRAMS_HOSTPATH"] == node_path
        assert _mounts(svc)["/opt/airflow/dags"] == "./dags_examples"
        assert svc["depends_on"]["kuberay-install"] == {"condition": "service_completed_successfully"}
        assert svc["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    commands = {k3s[name]["command"] for name in AIRFLOW_COMPONENTS}
    assert commands == {"api-server", "scheduler", "dag-processor", "triggerer"}


def test_kuberay_operator_v1_7_0_is_installed_and_its_kubeconfig_shared(compose: dict[str, Any]) -> None:
    install = compose["services"]["kuberay-install"]
    script = install["command"][0]
    assert "kuberay/kuberay-operator --version 1.7.0" in script
    assert "https://k3s:6443" in script
    assert "--tls-san=k3s" in compose["services"]["k3s"]["command"]
    assert install["depends_on"]["k3s"] == {"condition": "service_healthy"}
    written = _mounts(install)["/kube"]
    for name in AIRFLOW_COMPONENTS:
        svc = compose["services"][name]
        conn = _conn(svc)
        assert conn["conn_type"] == "kuberay"
        assert conn["extra"]["kube_config_path"] == "/kube/config"
        assert svc["volumes"].count(f"{written}:/kube:ro") == 1


def test_connections_parse_as_provider_settings(compose: dict[str, Any]) -> None:
    for name in [*AIRFLOW_COMPONENTS, "airflow-local"]:
        conn = _conn(compose["services"][name])
        settings = ConnectionSettings.from_extras(conn["extra"], conn_id="kuberay_default")
        assert settings.kube_config_path
        assert settings.namespace == "default"


def test_local_profile_is_one_container_with_the_emulator(compose: dict[str, Any]) -> None:
    local = _services(compose, "local")
    assert set(local) == {"airflow-local"}
    svc = local["airflow-local"]
    script = svc["command"][0]
    kubeconfig = _conn(svc)["extra"]["kube_config_path"]
    assert (
        f"python -m airflow_ray_k8s.testing.emulator.cli --workdir /tmp/kuberay --kubeconfig {kubeconfig}"
        in script
    )
    assert "airflow standalone" in script
    assert svc["build"]["args"]["EXTRAS"] == "local"
    assert _mounts(svc)["/opt/airflow/dags"] == "./dags_examples"


def test_ports_bind_loopback_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
        for source in _mounts(svc).values():
            assert source.startswith("./") or source in declared, f"{name}: volume {source} not declared"
            if source.startswith("./"):
                assert (ROOT / source).exists() or source.startswith("./dags_examples")
        for dep in svc.get("depends_on", {}):
            assert dep in compose["services"]
            assert set(compose["services"][dep].get("profiles", [])) == set(svc.get("profiles", []))


def test_the_image_is_built_from_this_repository() -> None:
    dockerfile = (ROOT / "deploy" / "airflow.Dockerfile").read_text()
    assert "FROM ${AIRFLOW_IMAGE}" in dockerfile
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3" in dockerfile
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dockerfile
    ignore = (ROOT / "deploy" / "airflow.Dockerfile.dockerignore").read_text().split()
    for copied in ("pyproject.toml", "README.md", "airflow_ray_k8s/"):
        assert f"!{copied}" in ignore
        assert (ROOT / copied).exists()


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="the docker compose plugin is not installed")
@pytest.mark.parametrize("profile", ["k3s", "local"])
def test_docker_compose_config_accepts_the_file(profile: str) -> None:
    result = subprocess.run(
        ["docker", "compose", "--profile", profile, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
