"""Airflow version gates, kept in one place (the convention of Airflow's own providers)."""

from __future__ import annotations


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """Return (major, minor, micro) of the installed Airflow, ignoring pre-release tags."""
    from airflow import __version__
    from packaging.version import Version

    v = Version(__version__)
    return v.major, v.minor, v.micro


AIRFLOW_V_3_1_PLUS = get_base_airflow_version_tuple() >= (3, 1, 0)
AIRFLOW_V_3_3_PLUS = get_base_airflow_version_tuple() >= (3, 3, 0)

__all__ = ["AIRFLOW_V_3_1_PLUS", "AIRFLOW_V_3_3_PLUS", "get_base_airflow_version_tuple"]
