"""Ray tasks and an actor computing a checkable number.

Squares 0..n-1 in parallel Ray tasks, adds them up in an actor, and checks the total against the
closed form n(n-1)(2n-1)/6 before printing it. ``--n 10`` prints ``sum_of_squares=285``.
"""

from __future__ import annotations

import argparse
import sys

import ray


@ray.remote
def square(x: int) -> int:
    return x * x


@ray.remote
class Accumulator:
    """Holds a running total across calls: state that lives in a Ray actor process."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, value: int) -> int:
        self.total += value
        self.count += 1
        return self.total

    def summary(self) -> tuple[int, int]:
        return self.total, self.count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10, help="square the integers 0..n-1 (default 10)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    ray.init()
    squares = ray.get([square.remote(i) for i in range(args.n)])
    acc = Accumulator.remote()  # type: ignore[attr-defined]
    ray.get([acc.add.remote(s) for s in squares])
    total, count = ray.get(acc.summary.remote())

    expected = args.n * (args.n - 1) * (2 * args.n - 1) // 6
    if total != expected or count != args.n:
        print(f"ERROR sum_of_squares mismatch: got {total} from {count} values, expected {expected}")
        return 1
    print(f"RESULT program=sum_of_squares n={args.n} tasks={len(squares)} sum_of_squares={total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
