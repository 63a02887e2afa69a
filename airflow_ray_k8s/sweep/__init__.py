"""The orphan sweeper: delete what the provider created once its task instance is gone.

- :class:`~airflow_ray_k8s.operators.sweep.RayOrphanSweepOperator`: one sweep as an Airflow task.
- :func:`~airflow_ray_k8s.sweep.dag.orphan_sweep_dag`: a ready-made maintenance DAG.
- ``python -m airflow_ray_k8s.sweep --dry-run``: the CLI (:mod:`airflow_ray_k8s.sweep.cli`).
- :func:`~airflow_ray_k8s.sweep.run.sweep`: the sweep itself, for any ``KubeRayHook``.

The decisions are in :mod:`~airflow_ray_k8s.sweep.verdicts` (pure). Importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RayOrphanSweepOperator", "orphan_sweep_dag"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m airflow_ray_k8s.sweep`` does not import Airflow's operator machinery.
    if name == "RayOrphanSweepOperator":
        from airflow_ray_k8s.operators.sweep import RayOrphanSweepOperator

        return RayOrphanSweepOperator
    if name == "orphan_sweep_dag":
        from airflow_ray_k8s.sweep.dag import orphan_sweep_dag

        return orphan_sweep_dag
    raise AttributeError(name)
