"""How many RayJobs the no-Ray (scripted) local KubeRay holds: time and memory, as medians.

Each run starts ``LocalKubeRay("scripted")`` and creates N RayJobs (each with its own RayCluster,
``shutdownAfterJobFinishes`` with a TTL of 0, scripted duration 1 s) straight into the store on
the emulator loop, the way the API layer does after parsing a request (this measures the
controller, not HTTP; the API's own HTTP figures are in ``bench/emulator_api_scale.py``). It
records the time until every RayJob is Complete / SUCCEEDED, until every RayCluster is deleted
again, and the process's peak RSS (with ``--trace-memory`` also the Python allocations held at the
peak, measured in a run that tracemalloc slows down).

    python bench/emulator_scripted_scale.py [--jobs 2000] [--runs 3] [--trace-memory]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from typing import Any

from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

SPEC = {
    "entrypoint": "python -c 'print(1)'",
    "shutdownAfterJobFinishes": True,
    "ttlSecondsAfterFinished": 0,
    "rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head"}]}}}},
}


def one_run(jobs: int, trace: bool) -> dict[str, float]:
    if trace:
        tracemalloc.start()
    with LocalKubeRay(
        "scripted", scripted_job_duration=1.0, scripted_ready_delay=0.2, reconcile_workers=8
    ) as kr:
        store = kr.store

        def create_all() -> None:
            for i in range(jobs):
                meta = {"name": f"job-{i}", "namespace": "default"}
                store.create(
                    RAYJOB, {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta, "spec": SPEC}
                )

        started = time.monotonic()
        kr.call(create_all)
        created = time.monotonic()
        peak_clusters = 0

        def progress() -> tuple[int, int]:
            done = sum(
                1 for o in store.list(RAYJOB) if (o.get("status") or {}).get("jobStatus") == "SUCCEEDED"
            )
            return done, store.count(RAYCLUSTER)

        while True:
            done, clusters = kr.call(progress)
            peak_clusters = max(peak_clusters, clusters)
            if done == jobs:
                break
            time.sleep(0.5)
        all_done = time.monotonic()
        peak_traced = tracemalloc.get_traced_memory()[1] if trace else 0
        while kr.call(lambda: store.count(RAYCLUSTER)) > 0:
            time.sleep(0.25)
        clean = time.monotonic()
        failed = kr.call(
            lambda: sum(
                1
                for o in store.list(RAYJOB)
                if (o.get("status") or {}).get("jobDeploymentStatus") != "Complete"
            )
        )
    if trace:
        tracemalloc.stop()
    result: dict[str, Any] = {
        "create_all_s": created - started,
        "create_to_all_succeeded_s": all_done - started,
        "create_to_all_clusters_deleted_s": clean - started,
        "peak_live_clusters": peak_clusters,
        "peak_traced_python_mib": peak_traced / 2**20,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "not_complete": failed,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="also measure Python allocations (tracemalloc; slows it 2-3x)",
    )
    args = parser.parse_args()
    results = []
    for i in range(args.runs):
        result = one_run(args.jobs, args.trace_memory)
        print(f"run {i}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.items()), flush=True)
        results.append(result)
    print(f"\n{args.jobs} scripted RayJobs, medians over {args.runs} runs:")
    for key in results[0]:
        print(f"  {key:<36} {statistics.median(r[key] for r in results):10.2f}")


if __name__ == "__main__":
    main()
