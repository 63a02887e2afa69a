"""``python -m airflow_ray_k8s.sweep``: one orphan sweep from a shell or a Kubernetes CronJob.

Without ``--airflow-api-url`` the expiry annotation alone decides (the sweeper needs no access to
Airflow); with it, an expired object whose task instance Airflow reports running is kept.
The API token is read from an environment variable, never from the command line (it would show
in ``ps``), and never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_ray_k8s.sweep",
        description="Delete the RayJobs / RayClusters airflow-ray-k8s created whose task is gone.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--conn-id", default=None, help="Airflow connection (type kuberay); default kuberay_default"
    )
    where.add_argument(
        "--kubeconfig", default=None, help="a kubeconfig file instead of an Airflow connection"
    )
    where.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    parser.add_argument("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], help="namespace to sweep (repeatable); "
        "default: the connection's allowed namespaces, else its namespace"
    )  # fmt: skip
    parser.add_argument("--airflow-api-url", default=None, help="ask this Airflow API server for task states")
    parser.add_argument(
        "--airflow-api-token-env", default="AIRFLOW_API_TOKEN", metavar="VAR",
        help="environment variable holding the API's bearer token (default AIRFLOW_API_TOKEN)",
    )  # fmt: skip
    return parser


def _client(args: argparse.Namespace) -> Any:
    if args.kubeconfig or args.in_cluster:
        from airflow_ray_k8s.kube.client import KubeClient
        from airflow_ray_k8s.kube.config import ConnectionSettings

        settings = ConnectionSettings(
            in_cluster=bool(args.in_cluster),
            kube_config_path=args.kubeconfig,
            cluster_context=args.context,
            namespace=args.namespace[0] if args.namespace else "default",
            conn_id="sweep-cli",
        )
        return KubeClient(settings)
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook

    return KubeRayHook(kuberay_conn_id=args.conn_id or "kuberay_default")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sweep; print one line per object and a summary. Exit 1 if a deletion failed."""
    from airflow_ray_k8s.exceptions import RayK8sError
    from airflow_ray_k8s.sweep.run import sweep
    from airflow_ray_k8s.sweep.states import AirflowRestApi, AnnotationOnly, StateSource

    args = _parser().parse_args(argv)
    states: StateSource = AnnotationOnly()
    if args.airflow_api_url:
        states = AirflowRestApi(args.airflow_api_url, os.environ.get(args.airflow_api_token_env) or None)
    try:
        report = sweep(_client(args), namespaces=args.namespace or None, states=states, dry_run=args.dry_run)
    except RayK8sError as exc:
        print(f"sweep failed: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 1 if report.errors else 0
