"""Scale figures of the emulated Kubernetes API (``LocalKubeRay(mode="api")``), printed as medians.

- store writes: ``store.create`` / ``store.patch`` of RayJobs on the emulator loop (what the controller pays);
- HTTP create and list of N RayJobs through aiohttp (32 requests in flight);
- watch fan-out: W open watch streams on one namespace (plus W idle watches on another namespace,
  which must cost nothing), E patches; the server-side cost per event, and the delay until every
  matching stream has read the event;
- memory: Python allocations held by N objects (tracemalloc);
- start and stop of the facade.

The client runs in this process on its own thread, so delays include the client's share of the GIL.

    python bench/emulator_api_scale.py [--objects 5000] [--watchers 500] [--events 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import tracemalloc
from typing import Any

import aiohttp

from airflow_ray_k8s.resources import NAMESPACE, RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay


def _job(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "i": name[-1]}},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 60,
        },
    }


def store_writes(kr: LocalKubeRay, n: int) -> tuple[float, float]:
    def run() -> tuple[float, float]:
        kr.store.create(NAMESPACE, {"metadata": {"name": "store-bench"}})
        started = time.perf_counter()
        for i in range(n):
            kr.store.create(RAYJOB, _job(f"s{i}", "store-bench"))
        created = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            kr.store.patch(RAYJOB, "store-bench", f"s{i}", {"status": {"jobStatus": "RUNNING"}}, "status")
        patched = time.perf_counter() - started
        kr.store.delete(NAMESPACE, None, "store-bench")
        return created / n * 1e6, patched / n * 1e6

    return kr.call(run, timeout=600)


async def http_create_and_list(kr: LocalKubeRay, n: int) -> tuple[float, float, float]:
    headers = {"Authorization": f"Bearer {kr.token}"}
    url = f"{kr.url}/apis/ray.io/v1/namespaces/http-bench/rayjobs"
    async with aiohttp.ClientSession(headers=headers) as session:
        await session.post(f"{kr.url}/api/v1/namespaces", json={"metadata": {"name": "http-bench"}})
        latencies: list[float] = []
        gate = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            async with gate:
                started = time.perf_counter()
                async with session.post(url, json=_job(f"h{i}", "http-bench")) as response:
                    assert response.status == 201, response.status
                    await response.read()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(n)))
        rate = n / (time.perf_counter() - started)
        started = time.perf_counter()
        async with session.get(url) as response:
            items = (await response.json())["items"]
        listed = time.perf_counter() - started
        assert len(items) == n
        async with session.delete(f"{kr.url}/api/v1/namespaces/http-bench") as response:
            assert response.status == 200
    return rate, statistics.median(latencies) * 1e3, listed * 1e3


async def watch_fanout(kr: LocalKubeRay, watchers: int, events: int) -> tuple[float, float, float]:
    headers = {"Authorization": f"Bearer {kr.token}"}
    for ns in ("watch-bench", "idle-bench"):
        kr.call(lambda ns=ns: kr.store.create(NAMESPACE, {"metadata": {"name": ns}}))
    kr.call(lambda: kr.store.create(RAYJOB, _job("target", "watch-bench")))
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    received: dict[int, list[float]] = {i: [] for i in range(events)}
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:
        rv = str(kr.store.resource_version)

        async def consume(ns: str, record: bool) -> None:
            url = f"{kr.url}/apis/ray.io/v1/namespaces/{ns}/rayjobs?watch=true&resourceVersion={rv}"
            async with session.get(url) as response:
                async for line in response.content:
                    event = json.loads(line)
                    if record:
                        seq = event["object"]["spec"].get("seq")
                        if seq is not None:
                            received[seq].append(time.perf_counter())
                            if seq == events - 1:
                                return

        tasks = [asyncio.create_task(consume("watch-bench", True)) for _ in range(watchers)]
        idle = [asyncio.create_task(consume("idle-bench", False)) for _ in range(watchers)]
        while len(kr.call(kr.store.watchers)) < 2 * watchers:  # noqa: ASYNC110 - state of another thread
            await asyncio.sleep(0.05)
        emitted: list[float] = []
        cost: list[float] = []
        for seq in range(events):

            def patch(seq: int = seq) -> float:
                started = time.perf_counter()
                kr.store.patch(RAYJOB, "watch-bench", "target", {"spec": {"seq": seq}})
                return time.perf_counter() - started

            emitted.append(time.perf_counter())
            cost.append(kr.call(patch))
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        for task in idle:
            task.cancel()
        await asyncio.gather(*idle, return_exceptions=True)
    delays = [max(received[seq]) - emitted[seq] for seq in range(events) if len(received[seq]) == watchers]
    assert len(delays) == events, "some watcher missed an event"
    per_watcher_us = statistics.median(cost) / watchers * 1e6
    for ns in ("watch-bench", "idle-bench"):
        kr.call(lambda ns=ns: kr.store.delete(NAMESPACE, None, ns))
    return statistics.median(cost) * 1e3, per_watcher_us, statistics.median(delays) * 1e3


def memory(kr: LocalKubeRay, n: int) -> float:
    # Python allocations held after creating n objects (objects, indexes, history, events).
    def fill() -> float:
        tracemalloc.start()
        kr.store.create(NAMESPACE, {"metadata": {"name": "mem-bench"}})
        for i in range(n):
            kr.store.create(RAYJOB, _job(f"m{i}", "mem-bench"))
        held, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return held / 2**20

    grown = kr.call(fill, timeout=600)
    kr.call(lambda: kr.store.delete(NAMESPACE, None, "mem-bench"), timeout=600)
    return grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--watchers", type=int, default=500)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    for _ in range(args.runs):
        started = time.perf_counter()
        kr = LocalKubeRay(mode="api", history_size=1000).start()
        add("LocalKubeRay(mode='api') start (ms)", (time.perf_counter() - started) * 1e3)
        try:
            create_us, patch_us = store_writes(kr, args.objects)
            add("store.create per object (us)", create_us)
            add("store.patch status per object (us)", patch_us)
            rate, latency_ms, list_ms = asyncio.run(http_create_and_list(kr, args.objects))
            add(f"HTTP create, 32 in flight (objects/s, N={args.objects})", rate)
            add("HTTP create latency (ms)", latency_ms)
            add(f"HTTP list of {args.objects} RayJobs (ms)", list_ms)
            cost_ms, per_watcher_us, delay_ms = asyncio.run(watch_fanout(kr, args.watchers, args.events))
            add(
                f"patch with {args.watchers} matching + {args.watchers} idle watches, server cost (ms)",
                cost_ms,
            )
            add("  of which per matching watcher (us)", per_watcher_us)
            add(f"event delivered to all {args.watchers} streams (ms)", delay_ms)
            add(f"memory held by {args.objects} RayJobs (MiB, tracemalloc)", memory(kr, args.objects))
        finally:
            started = time.perf_counter()
            kr.stop()
        add("stop (ms)", (time.perf_counter() - started) * 1e3)
    print(f"medians of {args.runs} runs")
    for key, values in rows.items():
        print(f"{key:<80} {statistics.median(values):>10.2f}")


if __name__ == "__main__":
    main()
