"""How fast and how cheaply the RayJob trigger waits: 1, 100 and 1000 concurrent waits.

Runs the real :class:`~airflow_ray_k8s.triggers.rayjob.RayJobTrigger` instances in one asyncio
loop (as in one triggerer) against the local KubeRay in its no-Ray (scripted) mode, and prints:

- the median and p99 latency from a RayJob's terminal status in the API to its trigger's event,
  with every job of the round finishing at once (the worst burst);
- Kubernetes API requests per waiting job per hour, measured over an idle window while all waits
  are subscribed and nothing changes, plus the requests it took to start the waits.

The RayJobs are created with ``spec.managedBy: kueue.x-k8s.io/multikueue``, so the emulated KubeRay
controller leaves them alone (as the real one does), and the benchmark plays that external manager:
it writes each terminal status itself, so the moment the status lands in the API is known exactly.
The waits stream no driver log (``get_logs=False``): a status wait, as a sensor makes.

Each size runs ``--runs`` times (a fresh set of RayJobs each time); the table shows the median over
the runs of each figure, and the worst p99 seen.

Usage: ``.venv/bin/python bench/triggers_wait.py [--sizes 1,100,1000] [--idle 20] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-triggers-"))

NAMESPACE = "default"


def _rayjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "clusterSelector": {"ray.io/cluster": "bench"},
            "managedBy": "kueue.x-k8s.io/multikueue",
        },
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _round(kr: Any, size: int, idle: float) -> dict[str, float]:
    from airflow_ray_k8s.hooks.kuberay import AsyncKubeRayHook
    from airflow_ray_k8s.resources import RAYJOB
    from airflow_ray_k8s.triggers.rayjob import RayJobTrigger

    names = [f"bench-{size}-{i}" for i in range(size)]
    kr.call(lambda: [kr.store.create(RAYJOB, _rayjob(n), namespace=NAMESPACE) for n in names])
    running = {"status": {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": "x"}}
    kr.call(lambda: [kr.store.patch(RAYJOB, NAMESPACE, n, running, "status") for n in names])

    kr.requests.clear()
    fired: dict[str, float] = {}

    async def wait(name: str) -> None:
        trigger = RayJobTrigger(name=name, namespace=NAMESPACE, get_logs=False)
        async for event in trigger.run():
            fired[name] = time.perf_counter()
            assert event.payload["status"] == "terminal", event.payload
            return

    tasks = [asyncio.create_task(wait(n)) for n in names]
    hook = AsyncKubeRayHook()
    hub = await hook.watch_hub()
    while hub.subscriber_count(RAYJOB, NAMESPACE) < size:  # noqa: ASYNC110 (the hub has no event for it)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # let every subscription receive its first state
    startup_requests = len(kr.requests)

    kr.requests.clear()
    await asyncio.sleep(idle)
    idle_requests = len(kr.requests)

    landed: dict[str, float] = {}
    done = {"status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}}

    def finish_all() -> None:
        for name in names:
            # Taken before the write (which crosses to the emulator's thread): an upper bound.
            landed[name] = time.perf_counter()
            kr.call(lambda n=name: kr.store.patch(RAYJOB, NAMESPACE, n, done, "status"))

    writer = threading.Thread(target=finish_all)
    writer.start()
    await asyncio.gather(*tasks)
    writer.join()
    await hook.close()
    kr.call(lambda: [kr.store.delete(RAYJOB, NAMESPACE, n) for n in names])

    latencies = [fired[n] - landed[n] for n in names]
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "startup_requests": startup_requests,
        "idle_requests": idle_requests,
        "per_job_hour": idle_requests / size * 3600 / idle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle window")
    parser.add_argument("--runs", type=int, default=3, help="rounds per size")
    args = parser.parse_args()

    import logging

    logging.getLogger("airflow_ray_k8s").setLevel(logging.WARNING)
    from airflow_ray_k8s.kube.request import DEFAULT_WATCH_SECONDS
    from airflow_ray_k8s.kube.watch import WatchOptions
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

    with tempfile.TemporaryDirectory() as tmp, LocalKubeRay(mode="scripted", workdir=Path(tmp)) as kr:
        os.environ.update(kr.airflow_conn_env())
        header = ("waits", "median ms", "p99 ms", "worst p99", "start reqs", "idle reqs", "reqs/job/h")
        print(f"medians over {args.runs} runs per size")
        print("{:>6} {:>10} {:>8} {:>10} {:>10} {:>9} {:>11}".format(*header))
        for size in (int(s) for s in args.sizes.split(",")):
            rounds = [asyncio.run(_round(kr, size, args.idle)) for _ in range(args.runs)]
            r = {key: statistics.median(x[key] for x in rounds) for key in rounds[0]}
            worst = max(x["p99_ms"] for x in rounds)
            print(
                f"{size:>6} {r['median_ms']:>10.1f} {r['p99_ms']:>8.1f} {worst:>10.1f}"
                f" {r['startup_requests']:>10.0f} {r['idle_requests']:>9.0f} {r['per_job_hour']:>11.3f}"
            )
        relist = WatchOptions().relist_interval
        per_hour = 3600 / DEFAULT_WATCH_SECONDS + 3600 / relist
        print(
            f"steady state, whatever the number of waits: one watch per (connection, namespace, kind), "
            f"re-opened every {DEFAULT_WATCH_SECONDS} s, plus a safety re-list every {relist:.0f} s: "
            f"~{per_hour:.0f} requests per hour in all (a 1000-wait triggerer: {per_hour / 1000:.3f} per job)"
        )


if __name__ == "__main__":
    main()
