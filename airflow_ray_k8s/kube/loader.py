"""Turn :class:`~airflow_ray_k8s.kube.config.ConnectionSettings` into a client configuration.

One function per transport; both follow the same order (in-cluster, kubeconfig content, kubeconfig
path, the default kubeconfig) and apply the same overrides. Kubeconfig content is parsed in memory and
handed to ``load_kube_config_from_dict``; this module never writes it to disk. Its embedded
certificate and key data, which the ``kubernetes`` libraries would write to temp files kept until
exit (Python's ``ssl`` loads them only from paths), are served from memory instead by
:mod:`~airflow_ray_k8s.kube.keyfiles` (``memfd`` on Linux; elsewhere 0600 temp files deleted when the
client closes). The caller owns the :class:`~airflow_ray_k8s.kube.keyfiles.KeyFiles` and closes it
with its API client.

Not covered (the libraries' own behaviour remains): certificates an exec credential plugin returns
at run time and an OIDC ``idp-certificate-authority-data``; and a kubeconfig *file* (path or default)
is loaded by the libraries as is.
"""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.exceptions import ConfigurationError
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.keyfiles import KeyFiles, materialize


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


#: Keys of a kubeconfig ``users[].user`` entry whose values are credentials.
_USER_SECRET_KEYS = ("token", "password", "client-key-data", "client-certificate-data")
#: Keys of ``users[].user.auth-provider.config`` (OIDC, legacy GCP/Azure plugins) that are credentials.
_AUTH_PROVIDER_SECRET_KEYS = ("id-token", "refresh-token", "access-token", "client-secret")


def kubeconfig_secrets(content: str) -> list[str]:
    """What to register with a secrets masker for kubeconfig ``content``: the content itself and each
    credential in it (tokens, passwords, client keys), so that a log line quoting any one is redacted.

    Unparseable content yields just the content (the loader reports the parse error).
    """
    import yaml

    found = [content]
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return found
    users = data.get("users") if isinstance(data, dict) else None
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        provider = user.get("auth-provider")
        config = provider.get("config") if isinstance(provider, dict) else None
        values = [user.get(k) for k in _USER_SECRET_KEYS]
        if isinstance(config, dict):
            values += [config.get(k) for k in _AUTH_PROVIDER_SECRET_KEYS]
        found += [v for v in values if isinstance(v, str) and v]
    return found


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


def _content(settings: ConnectionSettings, files: KeyFiles) -> dict[str, Any]:
    assert settings.kube_config
    parsed = parse_kubeconfig(settings.kube_config, settings.conn_id)
    return materialize(parsed, settings.cluster_context, files)


def sync_configuration(settings: ConnectionSettings, files: KeyFiles) -> Any:
    """A ``kubernetes.client.Configuration`` for these settings.

    :param files: holds the kubeconfig content's certificates and keys; keep it open as long as
        the API client (urllib3 reads them for every new connection).
    """
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        elif settings.kube_config:
            config.load_kube_config_from_dict(
                _content(settings, files),
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


async def async_configuration(settings: ConnectionSettings, files: KeyFiles) -> Any:
    """A ``kubernetes_asyncio.client.Configuration`` for these settings (``files``: as for the sync one)."""
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif settings.kube_config:
            await config.load_kube_config_from_dict(
                _content(settings, files),
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
