"""Fit a linear model by least squares on a day's generated data, in parallel Ray tasks.

``python least_squares.py --ds 2026-11-03 --rows 2000`` generates ``--rows`` points of
``y = w . x + b + noise`` (two features; the true ``w`` depends on the day, see :func:`true_model`),
splits them into shards, computes each shard's normal-equation terms ``[X 1]^T [X 1]`` and
``[X 1]^T y`` in a Ray task, sums them and solves for ``(w, b)``. The fitted weights are published
to Airflow (:func:`airflow_ray_k8s.results.publish`: the RayJob task's XCom ``results``) as
``{"weights": [...], "bias": ..., "version": <ds>, "rows": ...}`` and printed on a
``RESULT program=least_squares ...`` line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import numpy as np
import ray

FEATURES = 2
NOISE = 0.05
SHARDS = 4


def true_model(ds: str) -> tuple[list[float], float]:
    """The weights and bias the day's data is generated from (different days, different model)."""
    day = dt.date.fromisoformat(ds).toordinal()
    return [1.0 + (day % 5) / 4, -2.0 + (day % 3) / 2], 0.25 + (day % 7) / 10


def shard_data(ds: str, rows: int, shard: int, shards: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``shard, shard + shards, ...`` of day ``ds``: each row's values depend only on (day, row)."""
    weights, bias = true_model(ds)
    seed = int(ds.replace("-", ""))
    ids = np.arange(shard, rows, shards)
    x = np.empty((len(ids), FEATURES))
    noise = np.empty(len(ids))
    for i, row in enumerate(ids):
        values = np.random.default_rng([seed, int(row)]).uniform(-1.0, 1.0, FEATURES + 1)
        x[i], noise[i] = values[:FEATURES], values[FEATURES] * NOISE
    return x, x @ np.asarray(weights) + bias + noise


@ray.remote
def normal_terms(ds: str, rows: int, shard: int, shards: int) -> tuple[np.ndarray, np.ndarray]:
    """One shard's ``A^T A`` and ``A^T y`` with ``A = [X 1]`` (the intercept column)."""
    x, y = shard_data(ds, rows, shard, shards)
    a = np.hstack([x, np.ones((len(x), 1))])
    return a.T @ a, a.T @ y


def fit(ds: str, rows: int, shards: int = SHARDS) -> tuple[list[float], float]:
    """Least-squares ``(w, b)`` of the day's data, the normal equations summed over Ray tasks."""
    terms = ray.get([normal_terms.remote(ds, rows, s, shards) for s in range(shards)])
    ata = sum(t[0] for t in terms)
    aty = sum(t[1] for t in terms)
    solution = np.linalg.solve(ata, aty)
    return [float(v) for v in solution[:FEATURES]], float(solution[FEATURES])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ds", required=True, help="the day whose data to fit (YYYY-MM-DD)")
    parser.add_argument("--rows", type=int, default=2000, help="rows of generated data (default 2000)")
    args = parser.parse_args(argv)
    if args.rows < 10:
        parser.error("--rows must be at least 10")

    ray.init()
    weights, bias = fit(args.ds, args.rows)
    from airflow_ray_k8s.results import publish

    publish({"weights": weights, "bias": bias, "version": args.ds, "rows": args.rows})
    shown = ",".join(f"{w:.6f}" for w in weights)
    print(f"RESULT program=least_squares ds={args.ds} rows={args.rows} w={shown} b={bias:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
