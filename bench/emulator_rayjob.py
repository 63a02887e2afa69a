"""A RayJob with its own RayCluster on the local KubeRay with real Ray: time and memory, as medians.

For each run, one RayJob (``rayClusterSpec``, ``shutdownAfterJobFinishes``, ``ttlSecondsAfterFinished: 0``)
running a small Ray program (sum of 10 squares as Ray tasks) is created through the official
``kubernetes`` client; the script records

- create -> ``jobDeploymentStatus: Complete`` / ``jobStatus: SUCCEEDED`` (wall time), split into
  create -> Running (the cluster's head start) and Running -> Complete (submission and the job);
- the peak PSS (and RSS) summed over the head's process group, sampled every 0.5 s;
- SUCCEEDED -> every process of the head gone (TTL 0 deletion, SIGTERM, reaping).

    python bench/emulator_rayjob.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

import psutil
from kubernetes import client, config

from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

ENTRYPOINT = (
    'python -c "import ray; ray.init(); '
    'print(sum(ray.get([ray.remote(lambda x: x*x).remote(i) for i in range(10)])))"'
)
SPEC = {
    "entrypoint": ENTRYPOINT,
    "shutdownAfterJobFinishes": True,
    "ttlSecondsAfterFinished": 0,
    "rayClusterSpec": {
        "headGroupSpec": {
            "rayStartParams": {"num-cpus": "1"},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
        }
    },
}


def group_memory(pgid: int) -> tuple[int, int]:
    """(PSS, RSS) in bytes summed over the live processes of a process group."""
    pss = rss = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            info = proc.memory_full_info()
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
        pss += getattr(info, "pss", info.rss)
        rss += info.rss
    return pss, rss


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def one_run(kr: LocalKubeRay, api: Any, name: str) -> dict[str, float]:
    body = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": SPEC}
    started = time.monotonic()
    api.create_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", body)
    running_at = None
    pgid: int | None = None
    peak = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            if pgid is not None:
                pss, rss = group_memory(pgid)
                peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status: dict[str, Any] = {}
    while True:
        status = (
            api.get_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", name).get("status") or {}
        )
        if pgid is None and status.get("rayClusterName"):

            def find(cluster: str = status["rayClusterName"]) -> int | None:
                assert kr.controller is not None
                head = kr.controller.runtime.head(("default", cluster))
                return head.pgid if head is not None else None

            pgid = kr.call(find)
        if running_at is None and status.get("jobDeploymentStatus") == "Running":
            running_at = time.monotonic()
        if status.get("jobDeploymentStatus") in ("Complete", "Failed"):
            break
        time.sleep(0.1)
    done_at = time.monotonic()
    stop.set()
    sampler.join()
    if status.get("jobStatus") != "SUCCEEDED":
        raise SystemExit(f"run {name} did not succeed: {status}")
    while pgid is not None and group_alive(pgid):
        time.sleep(0.1)
    gone_at = time.monotonic()
    return {
        "create_to_succeeded": done_at - started,
        "create_to_running": (running_at or done_at) - started,
        "running_to_succeeded": done_at - (running_at or done_at),
        "succeeded_to_processes_gone": gone_at - done_at,
        "peak_pss_mib": peak[0] / 2**20,
        "peak_rss_mib": peak[1] / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: list[dict[str, float]] = []
    with LocalKubeRay("ray", max_heads=1) as kr:
        api = client.CustomObjectsApi(config.new_client_from_config(str(kr.write_kubeconfig())))
        for i in range(args.runs):
            result = one_run(kr, api, f"bench-{i}")
            print(f"run {i}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.items()), flush=True)
            results.append(result)
    load = os.getloadavg()[0]
    print(f"\nmedians over {args.runs} runs (load average now {load:.1f} on {os.cpu_count()} CPUs):")
    for key in results[0]:
        unit = "MiB" if key.endswith("mib") else "s"
        print(f"  {key:<28} {statistics.median(r[key] for r in results):8.2f} {unit}")


if __name__ == "__main__":
    main()
