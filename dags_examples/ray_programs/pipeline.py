"""A daily linear-model pipeline in three Ray steps: preprocess, train, evaluate.

Each step is a subcommand, run as its own RayJob entrypoint::

    python pipeline.py preprocess --ds 2026-11-01
    python pipeline.py train --ds 2026-11-01 --lr 0.1
    python pipeline.py evaluate --ds 2026-11-01 --lrs 0.01,0.1,0.5

The day's data is generated, not downloaded: ``--rows`` points of ``y = w*x + b + noise`` where
``w`` depends on the date and the noise comes from a counter-based hash of (date, row id). Every
step regenerates exactly the same rows, so the steps share no storage (a shared RayCluster's
workers need no common volume) and a backfill of several days gives several distinct results.
Rows whose id is a multiple of 5 are the validation split.

Every step prints one ``RESULT program=<step> ...`` line; the numbers are deterministic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import math
import sys
from typing import Any

import numpy as np
import ray

NOISE = 0.1  # half-width of the uniform noise added to y
BIAS = 0.5


def day_params(ds: str) -> tuple[int, float]:
    """The hash seed and the true slope for one day: different days, different data."""
    day = dt.date.fromisoformat(ds)
    return int(day.strftime("%Y%m%d")), 2.0 + (day.toordinal() % 7) / 10


def _unit(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Uniform [0, 1) numbers from (seed, stream, id) with splitmix64: independent of batching."""
    z = ids.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def featurize(batch: dict[str, np.ndarray], ds: str) -> dict[str, np.ndarray]:
    """Turn a batch of row ids into (id, x, y, split) columns for day ``ds``."""
    seed, slope = day_params(ds)
    ids = batch["id"]
    x = _unit(ids, seed, 0) * 2.0 - 1.0
    y = slope * x + BIAS + (_unit(ids, seed, 1) - 0.5) * 2.0 * NOISE
    return {"id": ids, "x": x, "y": y, "is_val": (ids % 5 == 0).astype(np.int64)}


def day_arrays(ds: str, rows: int, *, validation: bool, shard: int = 0, shards: int = 1) -> tuple[Any, Any]:
    """The x and y arrays of one split (and one shard of it) of day ``ds``."""
    ids = np.arange(rows, dtype=np.int64)
    ids = ids[(ids % 5 == 0) == validation]
    ids = ids[shard::shards]
    cols = featurize({"id": ids}, ds)
    return cols["x"], cols["y"]


def gradient(x: np.ndarray, y: np.ndarray, w: float, b: float) -> tuple[float, float, float]:
    """Sums of the squared-error gradient over (x, y) and the sum of squared errors."""
    err = w * x + b - y
    return float(2.0 * np.sum(err * x)), float(2.0 * np.sum(err)), float(np.sum(err * err))


def fit(x: np.ndarray, y: np.ndarray, lr: float, epochs: int) -> tuple[float, float]:
    """Full-batch gradient descent on one array (used by ``evaluate``)."""
    w = b = 0.0
    for _ in range(epochs):
        gw, gb, _sse = gradient(x, y, w, b)
        w, b = w - lr * gw / len(x), b - lr * gb / len(x)
    return w, b


@ray.remote
class Shard:
    """One data-parallel worker: holds a shard of the training split, returns its gradient."""

    def __init__(self, ds: str, rows: int, shard: int, shards: int) -> None:
        self.x, self.y = day_arrays(ds, rows, validation=False, shard=shard, shards=shards)

    def size(self) -> int:
        return len(self.x)

    def gradient(self, w: float, b: float) -> tuple[float, float, float]:
        return gradient(self.x, self.y, w, b)


@ray.remote
def score_candidate(ds: str, rows: int, lr: float, epochs: int) -> tuple[float, float]:
    """Fit on the training split with ``lr``; return (lr, validation MSE)."""
    w, b = fit(*day_arrays(ds, rows, validation=False), lr=lr, epochs=epochs)
    x, y = day_arrays(ds, rows, validation=True)
    return lr, float(np.mean((w * x + b - y) ** 2))


def preprocess(args: argparse.Namespace) -> int:
    """Generate the day's rows as a Ray Dataset and summarise them in one aggregation pass."""
    from ray.data.aggregate import AbsMax, Count, Mean, Std, Sum

    # A few large blocks: ray.data's default of many small blocks means one task each.
    ds = ray.data.range(args.rows, override_num_blocks=args.blocks).map_batches(
        functools.partial(featurize, ds=args.ds), batch_format="numpy"
    )
    stats: dict[str, Any] = ds.aggregate(
        Count(alias_name="rows"),
        Sum("is_val", alias_name="val_rows"),
        Mean("x", alias_name="mean_x"),
        Mean("y", alias_name="mean_y"),
        Std("y", alias_name="std_y"),
        AbsMax("x", alias_name="max_abs_x"),
    )
    rows, val_rows = int(stats["rows"]), int(stats["val_rows"])
    print(
        f"RESULT program=preprocess ds={args.ds} rows={rows} train_rows={rows - val_rows} "
        f"val_rows={val_rows} mean_x={stats['mean_x']:.4f} mean_y={stats['mean_y']:.4f} "
        f"std_y={stats['std_y']:.4f} max_abs_x={stats['max_abs_x']:.4f}",
        flush=True,
    )
    return 0


def train(args: argparse.Namespace) -> int:
    shards = [Shard.remote(args.ds, args.rows, i, args.workers) for i in range(args.workers)]  # type: ignore[attr-defined]
    n = sum(ray.get([s.size.remote() for s in shards]))
    w = b = 0.0
    mse = math.inf
    for epoch in range(args.epochs):
        parts = ray.get([s.gradient.remote(w, b) for s in shards])  # fixed order: deterministic sums
        gw, gb, sse = (sum(p[i] for p in parts) for i in range(3))
        mse = sse / n
        if not math.isfinite(mse) or mse > 1e12:
            print(f"ERROR training diverged at epoch {epoch} with lr={args.lr} (mse={mse:.3g}): lower --lr")
            return 1
        w, b = w - args.lr * gw / n, b - args.lr * gb / n
    print(
        f"RESULT program=train ds={args.ds} lr={args.lr} epochs={args.epochs} workers={args.workers} "
        f"rows={n} w={w:.4f} b={b:.4f} train_mse={mse:.6f}",
        flush=True,
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    lrs = [float(v) for v in args.lrs.split(",") if v.strip()]
    scores = ray.get([score_candidate.remote(args.ds, args.rows, lr, args.epochs) for lr in lrs])
    finite = [(mse, lr) for lr, mse in scores if math.isfinite(mse)]
    if not finite:
        print(f"ERROR no candidate converged among lrs={args.lrs}")
        return 1
    best_mse, best_lr = min(finite)
    print(
        f"RESULT program=evaluate ds={args.ds} candidates={len(lrs)} best_lr={best_lr} "
        f"val_mse={best_mse:.6f}",
        flush=True,
    )
    if best_mse > args.max_val_mse:
        print(f"ERROR best validation MSE {best_mse:.6f} is above the gate --max-val-mse={args.max_val_mse}")
        return 1
    return 0


def _date(value: str) -> str:
    dt.date.fromisoformat(value)  # raises ValueError, which argparse reports as a usage error
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("preprocess", "train", "evaluate"):
        step = steps.add_parser(name)
        step.add_argument("--ds", type=_date, required=True, help="the logical date, YYYY-MM-DD")
        step.add_argument("--rows", type=int, default=1000, help="rows generated for the day (default 1000)")
    pre_p, train_p, eval_p = (steps.choices[name] for name in ("preprocess", "train", "evaluate"))
    pre_p.add_argument("--blocks", type=int, default=2, help="ray.data blocks (default 2)")
    train_p.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    train_p.add_argument("--epochs", type=int, default=100, help="full passes over the data (default 100)")
    train_p.add_argument("--workers", type=int, default=2, help="data-parallel actors (default 2)")
    eval_p.add_argument("--lrs", default="0.01,0.1,0.5", help="comma-separated learning rates to compare")
    eval_p.add_argument("--epochs", type=int, default=100, help="epochs per candidate (default 100)")
    eval_p.add_argument("--max-val-mse", type=float, default=0.01, help="fail if the best is above this")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rows < 10:
        build_parser().error("--rows must be at least 10")
    ray.init()
    return {"preprocess": preprocess, "train": train, "evaluate": evaluate}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
