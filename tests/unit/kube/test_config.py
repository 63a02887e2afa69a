"""Connection settings: extras of both connection types, the namespace allow-list, secrecy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_ray_k8s.exceptions import ConfigurationError, NamespaceNotAllowedError
from airflow_ray_k8s.hooks.kuberay import settings_from_connection
from airflow_ray_k8s.kube.config import EXTRA_KEYS, ConnectionSettings
from airflow_ray_k8s.kube.loader import parse_kubeconfig

KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: tok-SECRET-123}}]\n"


def test_the_connection_form_lists_every_extra_read() -> None:
    from airflow_ray_k8s.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    assert set(conn_type["conn-fields"]) == set(EXTRA_KEYS)


def test_kuberay_extras() -> None:
    s = ConnectionSettings.from_extras(
        {
            "kube_config": KUBECONFIG,
            "cluster_context": "ctx",
            "namespace": "ray",
            "allowed_namespaces": "ray, ray-dev ,",
            "disable_verify_ssl": "true",
            "ssl_ca_cert": "/ca.pem",
            "dashboard_url": "http://dash.{namespace}:8265",
            "ray_token_secret": "ray-token",
            "request_timeout": "12",
        },
        conn_id="c",
    )
    assert s.kube_config == KUBECONFIG
    assert s.cluster_context == "ctx"
    assert s.namespace == "ray"
    assert s.allowed_namespaces == frozenset({"ray", "ray-dev"})
    assert s.disable_verify_ssl is True
    assert s.ssl_ca_cert == "/ca.pem"
    assert s.ray_token_secret == "ray-token"
    assert s.request_timeout == 12.0


def test_cncf_prefixed_extras_and_overrides() -> None:
    s = ConnectionSettings.from_extras(
        {
            "extra__kubernetes__in_cluster": False,
            "extra__kubernetes__kube_config_path": "/k/config",
            "extra__kubernetes__namespace": "ml",
            "extra__kubernetes__cluster_context": "prod",
            "extra__kubernetes__disable_verify_ssl": "False",
        },
        namespace="override",
    )
    assert s.kube_config_path == "/k/config"
    assert s.namespace == "override"
    assert s.cluster_context == "prod"
    assert s.disable_verify_ssl is False


def test_kubeconfig_as_json_object_extra() -> None:
    s = ConnectionSettings.from_extras({"kube_config": {"apiVersion": "v1", "kind": "Config"}})
    assert json.loads(s.kube_config or "") == {"apiVersion": "v1", "kind": "Config"}


@pytest.mark.parametrize(
    "extras",
    [
        {"in_cluster": True, "kube_config_path": "/x"},
        {"kube_config": "a: 1", "kube_config_path": "/x"},
        {"in_cluster": "maybe"},
        {"namespace": "a", "allowed_namespaces": "b,c"},
        {"request_timeout": "soon"},
        {"request_timeout": "0"},
    ],
)
def test_invalid_extras(extras: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        ConnectionSettings.from_extras(extras)


def test_a_single_allowed_namespace_is_the_default() -> None:
    assert ConnectionSettings.from_extras({"allowed_namespaces": "ray"}).namespace == "ray"
    with pytest.raises(ConfigurationError, match="not in allowed_namespaces"):
        ConnectionSettings.from_extras({"allowed_namespaces": "ray,ml"})


def test_allow_list() -> None:
    s = ConnectionSettings(namespace="ray", allowed_namespaces=frozenset({"ray", "ml"}), conn_id="c")
    assert s.resolve_namespace(None) == "ray"
    assert s.resolve_namespace("ml") == "ml"
    with pytest.raises(NamespaceNotAllowedError, match="'kube-system' is not allowed by connection 'c'"):
        s.resolve_namespace("kube-system")
    assert ConnectionSettings().resolve_namespace("anything") == "anything"


def test_kubeconfig_content_stays_out_of_repr_identity_and_errors() -> None:
    s = ConnectionSettings(kube_config=KUBECONFIG, conn_id="c")
    assert "tok-SECRET-123" not in repr(s)
    assert "tok-SECRET-123" not in s.identity
    assert s.identity != ConnectionSettings(kube_config=KUBECONFIG + "\n# other", conn_id="c").identity
    with pytest.raises(ConfigurationError) as info:
        parse_kubeconfig("users: [token: tok-SECRET-123", "c")
    assert "tok-SECRET-123" not in str(info.value)
    assert info.value.__cause__ is None  # not chained: the YAML error quotes the content
    with pytest.raises(ConfigurationError, match="mapping"):
        parse_kubeconfig("- tok-SECRET-123")


@pytest.mark.parametrize("conn_type", ["kuberay", "kubernetes"])
def test_settings_from_both_connection_types(conn_type: str) -> None:
    prefix = "extra__kubernetes__" if conn_type == "kubernetes" else ""
    conn = Connection(
        conn_id="k8s",
        conn_type=conn_type,
        extra=json.dumps({f"{prefix}kube_config": KUBECONFIG, f"{prefix}namespace": "ray"}),
    )
    s = settings_from_connection(conn)
    assert (s.conn_id, s.namespace, s.kube_config) == ("k8s", "ray", KUBECONFIG)


def test_other_connection_types_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="'postgres'"):
        settings_from_connection(Connection(conn_id="db", conn_type="postgres"))


def test_a_rewritten_kubeconfig_file_is_another_identity(tmp_path: Path) -> None:
    """A watch hub is keyed on the identity: a file rewritten to point at another API server (a
    fresh control plane under the same path) must not reach the old server's hub."""
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    s = ConnectionSettings(kube_config_path=str(path), conn_id="c")
    before = s.identity
    assert s.identity == before
    path.write_text(KUBECONFIG.replace("tok-SECRET-123", "tok-OTHER"))
    assert s.identity != before
    assert "tok-OTHER" not in s.identity
