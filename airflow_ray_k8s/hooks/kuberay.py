"""The ``kuberay`` connection type and :class:`KubeRayHook`.

This module stays cheap to import: the Kubernetes clients are imported inside methods.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class KubeRayHook(BaseHook):
    """Interact with KubeRay (RayCluster / RayJob custom resources) on a Kubernetes cluster.

    :param kuberay_conn_id: an Airflow connection of type ``kuberay`` (or the cncf provider's
        ``kubernetes`` type, whose extras are read the same way).
    """

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = "kuberay"
    hook_name = "KubeRay (Ray on Kubernetes)"

    def __init__(self, kuberay_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kuberay_conn_id = kuberay_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hide the generic fields the connection does not use."""
        return {"hidden_fields": ["host", "schema", "login", "password", "port"], "relabeling": {}}
