"""A Ray program that fails on purpose, for testing how failures are reported.

``--where task`` (default) raises inside a Ray task, so the driver log carries Ray's
``RayTaskError`` traceback with the message below; ``--where driver`` exits with ``--exit-code``
before any Ray work. Either way the job ends FAILED and the log names the reason.
"""

from __future__ import annotations

import argparse
import sys

import ray

MESSAGE = "deliberate failure from fail_on_purpose.py"


class DeliberateFailure(RuntimeError):
    """Raised on purpose; its name and message are what a test looks for in the driver log."""


@ray.remote
def doomed(reason: str) -> None:
    raise DeliberateFailure(f"{MESSAGE}: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--where", choices=("task", "driver"), default="task")
    parser.add_argument("--reason", default="testing failure reporting", help="included in the error")
    parser.add_argument("--exit-code", type=int, default=3, help="exit status for --where driver")
    args = parser.parse_args(argv)

    print(f"FAILING ON PURPOSE where={args.where} reason={args.reason!r}", flush=True)
    if args.where == "driver":
        print(f"ERROR {MESSAGE}: {args.reason}", flush=True)
        return int(args.exit_code)
    ray.init()
    ray.get(doomed.remote(args.reason))  # raises ray.exceptions.RayTaskError(DeliberateFailure)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
