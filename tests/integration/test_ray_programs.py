"""The example Ray programs run for real as Ray jobs on a throw-away local Ray head.

One head (``RayHead``: its own process group, ports and short temp dir) serves the module; every
program is submitted at once over the job REST API (exactly what KubeRay's HTTP-mode submitter and
the emulator do) so the drivers' start-ups overlap. Results are checked in the driver logs against
numbers computed here, in-process, with the programs' own pure functions: the sharded actor
training must reproduce single-process gradient descent, the ray.data aggregation the numpy one.
At the end no process of that head may survive.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("ray")

import aiohttp

from airflow_ray_k8s.testing.emulator.jobapi import HttpJobAPI, JobAPIError, JobSubmission
from airflow_ray_k8s.testing.emulator.rayproc import HeadPorts, PortAllocator, RayHead

pytestmark = pytest.mark.ray

PROGRAMS = Path(__file__).resolve().parents[2] / "dags_examples" / "ray_programs"
JOB_TIMEOUT = 240.0  # a shared 2-core machine under load; ~30 s when it is idle

# name -> the entrypoint's arguments (after "python <PROGRAMS>/")
JOBS = {
    "sum_of_squares": "sum_of_squares.py --n 10",
    "preprocess": "pipeline.py preprocess --ds 2026-11-01 --rows 1000",
    "train": "pipeline.py train --ds 2026-11-02 --lr 0.1 --epochs 30",
    "evaluate": "pipeline.py evaluate --ds 2026-11-01 --lrs 0.01,0.1,0.5 --epochs 100",
    "fail_task": "fail_on_purpose.py --where task --reason checked-by-test",
}


@dataclass(frozen=True)
class Finished:
    status: str
    message: str
    logs: str


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ray_programs_it_{name}", PROGRAMS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def _run_all(head: RayHead) -> dict[str, Finished]:
    async with aiohttp.ClientSession() as session:
        await head.wait_ready(session, timeout=JOB_TIMEOUT)
        api = HttpJobAPI(head.dashboard_url, session)
        ids = {name: f"prog-{name}-{os.getpid()}" for name in JOBS}
        for name, args in JOBS.items():
            job = JobSubmission(entrypoint=f"python {PROGRAMS}/{args}", submission_id=ids[name])
            for attempt in range(40):  # 500 "No available agent" for a moment after ready (FACTS.md)
                try:
                    await api.submit(job)
                    break
                except JobAPIError as exc:
                    if exc.status != 500 or attempt == 39:
                        raise
                    await asyncio.sleep(0.5)
        finished: dict[str, Finished] = {}
        deadline = time.monotonic() + JOB_TIMEOUT
        while len(finished) < len(JOBS):
            for name, sid in ids.items():
                if name not in finished and (info := await api.info(sid)).is_terminal:
                    finished[name] = Finished(info.status, info.message, await api.logs(sid))
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"jobs not finished after {JOB_TIMEOUT:.0f}s: {set(JOBS) - set(finished)}"
                )
            await asyncio.sleep(0.5)
        return finished


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Finished]]:
    head = RayHead(name="ray-programs-test", ports=HeadPorts.allocate(PortAllocator()), num_cpus=2)
    head.spawn()
    pgid = head.pgid
    try:
        yield asyncio.run(_run_all(head))
    finally:
        asyncio.run(head.stop())
        assert pgid is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)  # the whole process group is gone
        assert not head.temp_dir.exists()


@pytest.fixture(scope="module")
def results() -> ModuleType:
    return _load("__init__")


@pytest.fixture(scope="module")
def pipeline() -> ModuleType:
    return _load("pipeline")


def _result(runs: dict[str, Finished], results: ModuleType, name: str) -> dict[str, str]:
    run = runs[name]
    assert run.status == "SUCCEEDED", f"{name}: {run.status} {run.message}\n{run.logs[-3000:]}"
    lines = results.parse_results(run.logs)
    assert len(lines) == 1, run.logs[-3000:]
    return dict(lines[0])


def test_tasks_and_actor_sum_of_squares(runs: dict[str, Finished], results: ModuleType) -> None:
    assert _result(runs, results, "sum_of_squares") == {
        "program": "sum_of_squares",
        "n": "10",
        "tasks": "10",
        "sum_of_squares": "285",
    }


def test_ray_data_preprocess_matches_numpy(
    runs: dict[str, Finished], results: ModuleType, pipeline: ModuleType
) -> None:
    got = _result(runs, results, "preprocess")
    cols = pipeline.featurize({"id": np.arange(1000, dtype=np.int64)}, ds="2026-11-01")
    assert got["program"] == "preprocess"
    assert got["ds"] == "2026-11-01"
    assert (got["rows"], got["train_rows"], got["val_rows"]) == ("1000", "800", "200")
    assert float(got["mean_x"]) == pytest.approx(cols["x"].mean(), abs=1e-4)
    assert float(got["mean_y"]) == pytest.approx(cols["y"].mean(), abs=1e-4)
    assert float(got["std_y"]) == pytest.approx(cols["y"].std(ddof=1), abs=1e-4)
    assert float(got["max_abs_x"]) == pytest.approx(np.abs(cols["x"]).max(), abs=1e-4)


def test_sharded_actor_training_matches_single_process_descent(
    runs: dict[str, Finished], results: ModuleType, pipeline: ModuleType
) -> None:
    got = _result(runs, results, "train")
    x, y = pipeline.day_arrays("2026-11-02", 1000, validation=False)
    w, b = pipeline.fit(x, y, lr=0.1, epochs=30)
    assert (got["ds"], got["lr"], got["epochs"], got["workers"], got["rows"]) == (
        "2026-11-02",
        "0.1",
        "30",
        "2",
        "800",
    )
    assert float(got["w"]) == pytest.approx(w, abs=2e-4)
    assert float(got["b"]) == pytest.approx(b, abs=2e-4)
    assert math.isfinite(float(got["train_mse"]))


def test_evaluate_picks_the_best_learning_rate(
    runs: dict[str, Finished], results: ModuleType, pipeline: ModuleType
) -> None:
    got = _result(runs, results, "evaluate")
    x_val, y_val = pipeline.day_arrays("2026-11-01", 1000, validation=True)
    scores = {}
    for lr in (0.01, 0.1, 0.5):
        w, b = pipeline.fit(*pipeline.day_arrays("2026-11-01", 1000, validation=False), lr=lr, epochs=100)
        scores[lr] = float(np.mean((w * x_val + b - y_val) ** 2))
    best = min(scores, key=scores.__getitem__)
    assert got["candidates"] == "3"
    assert float(got["best_lr"]) == best
    assert float(got["val_mse"]) == pytest.approx(scores[best], abs=1e-6)


def test_failing_program_fails_the_job_with_its_reason_in_the_log(
    runs: dict[str, Finished], results: ModuleType
) -> None:
    run = runs["fail_task"]
    assert run.status == "FAILED"
    assert "FAILING ON PURPOSE where=task reason='checked-by-test'" in run.logs
    assert "DeliberateFailure: deliberate failure from fail_on_purpose.py: checked-by-test" in run.logs
    assert results.parse_results(run.logs) == []
