"""Connection settings: what a ``kuberay`` (or cncf ``kubernetes``) connection says, parsed once.

Pure: reading the extras, the namespace allow-list and the defaults involve no I/O. Turning the
settings into an API client configuration is in :mod:`airflow_ray_k8s.kube.loader`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_ray_k8s.exceptions import ConfigurationError, NamespaceNotAllowedError

# The cncf provider stored extras with this prefix before Airflow 2.3's custom-field cleanup;
# its hook still accepts both spellings, so we do too.
_CNCF_PREFIX = "extra__kubernetes__"
_KUBERAY_PREFIX = "extra__kuberay__"

#: The connection extras read (each also with the ``extra__kuberay__`` / ``extra__kubernetes__`` prefix);
#: the connection form in ``get_provider_info.py`` lists the same keys.
EXTRA_KEYS = (
    "in_cluster",
    "kube_config_path",
    "kube_config",
    "cluster_context",
    "namespace",
    "allowed_namespaces",
    "disable_verify_ssl",
    "ssl_ca_cert",
    "dashboard_url",
    "ray_token_secret",
    "request_timeout",
    "connect_timeout",
)

DEFAULT_NAMESPACE = "default"
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0


def _truthy(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off"):
        return False
    raise ConfigurationError(f"connection extra {key!r} must be a boolean, got {text[:20]!r}")


def _names(value: Any) -> frozenset[str]:
    if value is None or value == "":
        return frozenset()
    items: Iterable[Any] = (
        value if isinstance(value, list | tuple | set | frozenset) else str(value).split(",")
    )
    return frozenset(str(n).strip() for n in items if str(n).strip())


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one Kubernetes cluster and what the provider may do there.

    :param in_cluster: use the pod's service account.
    :param kube_config_path: a kubeconfig file to read.
    :param kube_config: kubeconfig content (YAML or JSON); kept in memory, never written to disk
        by this provider. Hidden from ``repr``.
    :param cluster_context: the kubeconfig context to use.
    :param namespace: the namespace used when a call names none.
    :param allowed_namespaces: if not empty, the only namespaces a call may touch; checked before
        any request is sent.
    :param disable_verify_ssl: skip TLS verification (test clusters only).
    :param ssl_ca_cert: a CA bundle path overriding the kubeconfig's.
    :param dashboard_url: a directly reachable Ray dashboard base URL; may contain ``{namespace}`` and
        ``{cluster}`` placeholders. Empty: use the API server's service proxy.
    :param ray_token_secret: the Secret holding the Ray dashboard token (key ``auth_token``),
        in the namespace of the cluster.
    :param request_timeout: client-side read timeout of every call, seconds.
    :param connect_timeout: client-side connect timeout of every call, seconds.
    :param conn_id: the Airflow connection id (for messages and the watch-hub registry).
    """

    in_cluster: bool = False
    kube_config_path: str | None = None
    kube_config: str | None = field(default=None, repr=False)
    cluster_context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    allowed_namespaces: frozenset[str] = frozenset()
    disable_verify_ssl: bool = False
    ssl_ca_cert: str | None = None
    dashboard_url: str | None = None
    ray_token_secret: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    conn_id: str = ""

    def __post_init__(self) -> None:
        sources = [self.in_cluster, bool(self.kube_config_path), bool(self.kube_config)]
        if sum(sources) > 1:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: set only one of in_cluster, kube_config_path, kube_config"
            )
        if self.allowed_namespaces and self.namespace not in self.allowed_namespaces:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: default namespace {self.namespace!r} is not in "
                f"allowed_namespaces {sorted(self.allowed_namespaces)}"
            )
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise ConfigurationError("timeouts must be positive")

    @classmethod
    def from_extras(
        cls, extras: Mapping[str, Any], *, conn_id: str = "", **overrides: Any
    ) -> ConnectionSettings:
        """Parse a connection's extras (``kuberay`` or cncf ``kubernetes`` type, prefixed or not).

        :param extras: the connection's ``extra_dejson``.
        :param overrides: keyword arguments that win over the extras (e.g. ``namespace``).
        """

        def get(key: str) -> Any:
            assert key in EXTRA_KEYS, key
            for name in (key, f"{_KUBERAY_PREFIX}{key}", f"{_CNCF_PREFIX}{key}"):
                value = extras.get(name)
                if value not in (None, ""):
                    return value
            return None

        kube_config = get("kube_config")
        if isinstance(kube_config, Mapping):
            # The cncf UI stores text, but a JSON extra may carry the kubeconfig as an object.
            kube_config = json.dumps(kube_config)
        values: dict[str, Any] = {
            "in_cluster": _truthy(get("in_cluster"), "in_cluster"),
            "kube_config_path": get("kube_config_path"),
            "kube_config": kube_config,
            "cluster_context": get("cluster_context"),
            "namespace": get("namespace") or DEFAULT_NAMESPACE,
            "allowed_namespaces": _names(get("allowed_namespaces")),
            "disable_verify_ssl": _truthy(get("disable_verify_ssl"), "disable_verify_ssl"),
            "ssl_ca_cert": get("ssl_ca_cert"),
            "dashboard_url": get("dashboard_url"),
            "ray_token_secret": get("ray_token_secret"),
            "conn_id": conn_id,
        }
        for key in ("request_timeout", "connect_timeout"):
            raw = get(key)
            if raw is not None:
                try:
                    values[key] = float(raw)
                except (TypeError, ValueError):
                    raise ConfigurationError(f"connection extra {key!r} must be a number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "allowed_namespaces" in overrides:
            values["allowed_namespaces"] = _names(overrides["allowed_namespaces"])
        allowed = values["allowed_namespaces"]
        if not get("namespace") and not overrides.get("namespace") and len(allowed) == 1:
            # One allowed namespace and no default: that namespace is the default.
            values["namespace"] = next(iter(allowed))
        return cls(**values)

    def resolve_namespace(self, namespace: str | None) -> str:
        """The namespace a call will use, after checking the allow-list.

        :raises NamespaceNotAllowedError: the namespace is not allowed; nothing was sent.
        """
        ns = namespace or self.namespace
        if self.allowed_namespaces and ns not in self.allowed_namespaces:
            raise NamespaceNotAllowedError(
                f"namespace {ns!r} is not allowed by connection {self.conn_id!r} "
                f"(allowed: {', '.join(sorted(self.allowed_namespaces))})"
            )
        return ns

    @property
    def identity(self) -> str:
        """A stable key for this configuration that holds no secret (for caches and registries)."""
        import hashlib

        digest = hashlib.sha256(
            json.dumps(
                [
                    self.in_cluster,
                    self.kube_config_path,
                    self.kube_config,
                    self.cluster_context,
                    self.disable_verify_ssl,
                    self.ssl_ca_cert,
                    _kubeconfig_file_digest(self),
                ]
            ).encode()
        ).hexdigest()[:16]
        return f"{self.conn_id or '<settings>'}:{digest}"


def _kubeconfig_file_digest(settings: ConnectionSettings) -> str:
    """What the kubeconfig file the client will read holds now (a digest, never the content).

    A path alone does not name an API server: the file can be rewritten to point at another one
    (a new cluster, rotated credentials, a test's fresh control plane), and a watch hub keyed on the
    path would then answer from the old server's cache.
    """
    import hashlib
    import os

    if settings.in_cluster or settings.kube_config:
        return ""
    path = settings.kube_config_path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    path = os.path.expanduser(path or "~/.kube/config")
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return ""
