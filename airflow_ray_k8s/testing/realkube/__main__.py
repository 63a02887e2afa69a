"""``python -m airflow_ray_k8s.testing.realkube``: the real control plane in the foreground.

Starts etcd, kube-apiserver, kube-controller-manager, the KubeRay operator and the node agent,
prints the provider's kubeconfig, a cluster-admin kubeconfig (for kubectl) and the Airflow
connection, and stops everything (Ray heads and pod network included) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_ray_k8s.testing.realkube",
        description=(
            "Run a real kube-apiserver, etcd and KubeRay operator (built by `make real-kuberay`)"
            " until Ctrl-C."
        ),
    )
    parser.add_argument("--workdir", type=Path, default=None, help="run folder (default: a new temp folder)")
    parser.add_argument("--namespace", default="default", help="namespace the provider's Role is bound in")
    parser.add_argument("--max-pods", type=int, default=4, help="pods the node agent runs at once")
    parser.add_argument(
        "--image-pull-seconds",
        type=float,
        default=0.0,
        help="modelled pull time of a Ray image the node does not hold yet (default 0: every image present)",
    )
    parser.add_argument("--conn-id", default="kuberay_default", help="Airflow connection id to print")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the agent's work")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from airflow_ray_k8s.testing.realkube.controlplane import RealKubeRay, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"cannot start: {reason}")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="realkube-"))
    kr = RealKubeRay(
        workdir,
        jobs_namespace=args.namespace,
        max_pods=args.max_pods,
        image_pull_seconds=args.image_pull_seconds,
    )
    kr.start()
    try:
        print(f"kube-apiserver:       {kr.url}")
        print(f"provider kubeconfig:  {kr.kubeconfig_path}")
        print(f"admin kubeconfig:     KUBECONFIG={kr.admin_kubeconfig_path} kubectl get rayclusters -A")
        for key, value in kr.airflow_conn_env(args.conn_id).items():
            print(f"export {key}={shlex.quote(value)}")
        print("Ctrl-C stops everything.", flush=True)
        stop.wait()
    finally:
        kr.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
