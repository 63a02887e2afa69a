"""``python -m airflow_ray_k8s.testing.emulator.cli``: the local KubeRay in the foreground.

Starts the emulated Kubernetes API and the KubeRay controller, writes a kubeconfig, prints how to
point the ``kuberay`` Airflow connection at it, and stops everything (every Ray process included)
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_ray_k8s.testing.emulator.cli",
        description="Run a local Kubernetes API with a KubeRay v1.7 controller until Ctrl-C.",
    )
    parser.add_argument(
        "--mode",
        choices=("ray", "scripted", "api"),
        default="ray",
        help="ray: real Ray heads (default); scripted: no Ray processes; api: no controller",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the kubeconfig and state")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="where to write the kubeconfig")
    parser.add_argument("--conn-id", default="kuberay_default", help="Airflow connection id to print")
    parser.add_argument("--max-heads", type=int, default=None, help="cap on concurrent real Ray heads")
    parser.add_argument(
        "--local-queue",
        action="append",
        default=[],
        metavar="NAME=SLOTS",
        help="a Kueue LocalQueue admitting at most SLOTS queued workloads at once (repeatable)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a controller option (JSON value), e.g. --option job_status_check_timeout=30",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the controller's work")
    return parser


def controller_options(args: argparse.Namespace) -> dict[str, Any]:
    """The controller options given on the command line."""
    options: dict[str, Any] = {}
    if args.max_heads is not None:
        options["max_heads"] = args.max_heads
    for item in args.local_queue:
        name, sep, raw = item.partition("=")
        if not sep or not raw.isdigit():
            raise SystemExit(f"--local-queue needs NAME=SLOTS (SLOTS a whole number), got {item!r}")
        options.setdefault("local_queues", {})[name] = int(raw)
    for item in args.option:
        name, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--option needs NAME=VALUE, got {item!r}")
        try:
            options[name] = json.loads(raw)
        except json.JSONDecodeError:
            options[name] = raw
    return options


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kr = LocalKubeRay(args.mode, workdir=args.workdir, **controller_options(args))
    try:
        kr.start()
        kubeconfig = kr.write_kubeconfig(args.kubeconfig)
        env = kr.airflow_conn_env(args.conn_id)
        print(f"Local KubeRay ({args.mode} mode) is serving {kr.url}", flush=True)
        print(f"kubeconfig: {kubeconfig}", flush=True)
        print("Point the kuberay connection at it with:", flush=True)
        for key, value in env.items():
            print(f"  export {key}={shlex.quote(value)}", flush=True)
        print(f"  export KUBECONFIG={shlex.quote(str(kubeconfig))}", flush=True)
        print("Press Ctrl-C to stop (stops every Ray process it started).", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping...", flush=True)
    finally:
        kr.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
