"""API requests of one RayJob lifecycle, and the cost of many waiters on the shared watch.

Against ``LocalKubeRay`` (the emulated API with the scripted KubeRay controller, no Ray processes),
through the provider's own clients; the request counts come from the emulated API's request log,
so they are what a real API server would see from the provider (the controller talks to the store
directly and is not counted).

1. Lifecycle: create a RayJob, wait for its terminal status by watch, delete it with foreground
   propagation, wait until it is gone. Sync client (``KubeClient.wait_for``) and async client
   (``AsyncKubeClient.wait_for`` through the shared ``WatchHub``).
2. 500 waiters: 500 concurrent ``wait_for`` calls on 500 RayJobs in one namespace (400 existing,
   100 created later), all satisfied by one change each; wall time from the first subscription
   to the last result, and the number of watch / list requests.

Prints medians of N runs::

    python bench/kube_lifecycle.py [--runs 5] [--waiters 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.kube.watch import WatchOptions
from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.status import RayJobStatus
from airflow_ray_k8s.testing.emulator.kubeconfig import kubeconfig_dict
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

POLICY = RetryPolicy()
WATCH = WatchOptions()


def settings_for(kr: LocalKubeRay, conn_id: str) -> ConnectionSettings:
    content = yaml.safe_dump(kubeconfig_dict(kr.url, kr.token))
    return ConnectionSettings(kube_config=content, conn_id=conn_id)


def rayjob(name: str) -> dict[str, Any]:
    head = {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}},
    }
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "airflow-ray-k8s"}},
        "spec": {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": {"headGroupSpec": head}},
    }


def terminal(obj: Mapping[str, Any] | None) -> bool:
    return obj is None or RayJobStatus.from_object(obj).is_terminal


def count(kr: LocalKubeRay) -> Counter[str]:
    out: Counter[str] = Counter()
    for r in kr.requests:
        kind = "WATCH" if r.watch else r.method
        out[kind] += 1
    return out


def lifecycle_sync(kr: LocalKubeRay, name: str) -> tuple[Counter[str], float]:
    kr.requests.clear()
    started = time.perf_counter()
    with KubeClient(settings_for(kr, "bench-sync"), retry_policy=POLICY, watch_options=WATCH) as c:
        c.create(RAYJOB, rayjob(name))
        final = c.wait_for(RAYJOB, name, terminal, timeout=60)
        assert final is not None
        assert RayJobStatus.from_object(final).is_success
        c.delete(RAYJOB, name, propagation_policy="Foreground")
        c.wait_for_deletion(RAYJOB, name, timeout=60)
    return count(kr), time.perf_counter() - started


async def lifecycle_async(kr: LocalKubeRay, name: str) -> tuple[Counter[str], float]:
    kr.requests.clear()
    started = time.perf_counter()
    async with AsyncKubeClient(
        settings_for(kr, "bench-async"), retry_policy=POLICY, watch_options=WATCH
    ) as c:
        await c.create(RAYJOB, rayjob(name))
        final = await c.wait_for(RAYJOB, name, terminal, timeout=60)
        assert final is not None
        await c.delete(RAYJOB, name, propagation_policy="Foreground")
        await c.wait_for_deletion(RAYJOB, name, timeout=60)
    return count(kr), time.perf_counter() - started


def _done(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and (obj["metadata"].get("labels") or {}).get("done") == "1"


async def many_waiters(kr: LocalKubeRay, waiters: int, run: int) -> tuple[float, int, int]:
    existing = [f"w{run}-{i:04d}" for i in range(waiters * 4 // 5)]
    later = [f"l{run}-{i:04d}" for i in range(waiters - len(existing))]

    def create(names: list[str]) -> None:
        for name in names:
            kr.store.create(RAYJOB, {**rayjob(name), "metadata": {"name": name}}, namespace="default")

    def mark(names: list[str]) -> None:
        for name in names:
            kr.store.patch(RAYJOB, "default", name, {"metadata": {"labels": {"done": "1"}}})

    kr.call(lambda: create(existing))
    kr.requests.clear()
    async with AsyncKubeClient(settings_for(kr, f"bench-hub-{run}")) as client:
        hub = await client.watch_hub()
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(client.wait_for(RAYJOB, n, _done, namespace="default", timeout=300))
            for n in existing + later
        ]
        # The request log lives in the emulator thread: poll it.
        while hub.subscriber_count(RAYJOB, "default") < waiters or kr.requests.count(watch=True) < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        kr.call(lambda: create(later))
        kr.call(lambda: mark(existing + later))
        results = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    assert all(_done(r) for r in results)
    return elapsed, kr.requests.count(watch=True), kr.requests.count(method="GET", watch=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--waiters", type=int, default=500)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalKubeRay(
            mode="scripted", workdir=Path(tmp), scripted_ready_delay=0.1, scripted_job_duration=0.2
        ) as kr,
    ):
        sync_counts, sync_times, async_counts, async_times = [], [], [], []
        for run in range(args.runs):
            counts, seconds = lifecycle_sync(kr, f"bench-sync-{run}")
            sync_counts.append(counts)
            sync_times.append(seconds)
            counts, seconds = asyncio.run(lifecycle_async(kr, f"bench-async-{run}"))
            async_counts.append(counts)
            async_times.append(seconds)
        for label, counts_list, times in (
            ("sync ", sync_counts, sync_times),
            ("async", async_counts, async_times),
        ):
            totals = [sum(c.values()) for c in counts_list]
            typical = counts_list[totals.index(int(statistics.median_low(totals)))]
            detail = ", ".join(f"{k} {v}" for k, v in sorted(typical.items()))
            print(
                f"lifecycle {label}: median {statistics.median(totals):.0f} API requests "
                f"({detail}); median {statistics.median(times):.2f} s wall (job itself ~0.3 s scripted)"
            )
    hub_runs = []
    for run in range(args.runs):
        # A fresh API per run, without the controller: it would reconcile the 500 RayJobs and
        # turn the measurement into one of the emulator.
        with tempfile.TemporaryDirectory() as tmp, LocalKubeRay(mode="api", workdir=Path(tmp)) as kr:
            hub_runs.append(asyncio.run(many_waiters(kr, args.waiters, run)))
    if hub_runs:
        seconds = statistics.median(r[0] for r in hub_runs)
        watches = statistics.median(r[1] for r in hub_runs)
        lists = statistics.median(r[2] for r in hub_runs)
        print(
            f"{args.waiters} waiters on one shared watch: median {seconds:.2f} s from the first "
            f"subscription to the last result; watch requests {watches:.0f}, list requests {lists:.0f} "
            f"(runs: {', '.join(f'{r[0]:.2f}' for r in hub_runs)})"
        )


if __name__ == "__main__":
    main()
