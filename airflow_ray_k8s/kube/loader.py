"""Turn :class:`~airflow_ray_k8s.kube.config.ConnectionSettings` into a client configuration.

One function per transport; both follow the same order (in-cluster, kubeconfig content, kubeconfig
path, the default kubeconfig) and apply the same overrides. Kubeconfig content is parsed in memory and
handed to ``load_kube_config_from_dict``; this module never writes it to disk. (The ``kubernetes``
libraries themselves still write *certificate* data of a kubeconfig to temp files, because Python's
``ssl`` module only loads certificates from files; token credentials never touch the disk.)
"""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.exceptions import ConfigurationError
from airflow_ray_k8s.kube.config import ConnectionSettings


def parse_kubeconfig(content: str, conn_id: str = "") -> dict[str, Any]:
    """Parse kubeconfig content (YAML or JSON) without echoing it in errors."""
    import yaml

    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        raise ConfigurationError(f"connection {conn_id!r}: kube_config is not valid YAML/JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"connection {conn_id!r}: kube_config must be a kubeconfig mapping")
    return data


def _apply_overrides(cfg: Any, settings: ConnectionSettings) -> None:
    if settings.disable_verify_ssl:
        cfg.verify_ssl = False
    if settings.ssl_ca_cert:
        cfg.ssl_ca_cert = settings.ssl_ca_cert
    # The provider's retry policy owns retries; urllib3's silent default (3 retries) would hide them
    # from it and multiply the attempts.
    cfg.retries = False


def _config_error(settings: ConnectionSettings, exc: Exception) -> ConfigurationError:
    # The loaders' messages can quote kubeconfig fields; only the type is safe to show.
    return ConfigurationError(
        f"connection {settings.conn_id!r}: cannot load the Kubernetes configuration ({type(exc).__name__})"
    )


def client_error(settings: ConnectionSettings, exc: Exception) -> ConfigurationError:
    """The error for an API client that cannot be built from a loaded configuration."""
    return ConfigurationError(
        f"connection {settings.conn_id!r}: cannot set up the Kubernetes client ({type(exc).__name__}); "
        "check ssl_ca_cert and the kubeconfig's certificates"
    )


def sync_configuration(settings: ConnectionSettings) -> Any:
    """A ``kubernetes.client.Configuration`` for these settings."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        elif settings.kube_config:
            config.load_kube_config_from_dict(
                parse_kubeconfig(settings.kube_config, settings.conn_id),
                context=settings.cluster_context,
                client_configuration=cfg,
                persist_config=False,
            )
        else:
            config.load_kube_config(
                config_file=settings.kube_config_path,
                context=settings.cluster_context,
                client_configuration=cfg,
                persist_config=False,
            )
    except ConfigurationError:
        raise
    except Exception as exc:
        raise _config_error(settings, exc) from exc
    _apply_overrides(cfg, settings)
    return cfg


async def async_configuration(settings: ConnectionSettings) -> Any:
    """A ``kubernetes_asyncio.client.Configuration`` for these settings."""
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif settings.kube_config:
            await config.load_kube_config_from_dict(
                parse_kubeconfig(settings.kube_config, settings.conn_id),
                context=settings.cluster_context,
                client_configuration=cfg,
            )
        else:
            await config.load_kube_config(
                config_file=settings.kube_config_path,
                context=settings.cluster_context,
                client_configuration=cfg,
                persist_config=False,
            )
    except ConfigurationError:
        raise
    except Exception as exc:
        raise _config_error(settings, exc) from exc
    _apply_overrides(cfg, settings)
    return cfg
