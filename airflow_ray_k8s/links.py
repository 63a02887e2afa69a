"""The ``Ray dashboard`` / ``Ray Serve dashboard`` extra links of the operators.

The operator pushes the dashboard URL to XCom (key :data:`XCOM_DASHBOARD_URL`) as soon as it knows
the cluster, so the button works while the task is still running or deferred, and for a task that
failed. The link reads that XCom only: the API server needs no Kubernetes access to render it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key holding the Ray dashboard URL of the cluster a task used.
XCOM_DASHBOARD_URL = "ray_dashboard_url"


class RayDashboardLink(BaseOperatorLink):
    """Link to the Ray dashboard of the cluster the task created or used."""

    name = "Ray dashboard"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the dashboard URL the task recorded, or ``""`` when it recorded none yet."""
        # The configured XCom backend (the execution-time class resolves it).
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=XCOM_DASHBOARD_URL)
        return value if isinstance(value, str) else ""


#: XCom key holding the Serve page of the Ray dashboard of the cluster a RayService serves from.
XCOM_SERVE_DASHBOARD_URL = "ray_serve_dashboard_url"


class RayServeDashboardLink(BaseOperatorLink):
    """Link to the Serve page of the Ray dashboard of a RayService (its active cluster)."""

    name = "Ray Serve dashboard"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the URL the task recorded, or ``""``."""
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=XCOM_SERVE_DASHBOARD_URL)
        return value if isinstance(value, str) else ""
