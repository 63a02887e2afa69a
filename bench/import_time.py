"""Added import time of the provider's DAG-facing modules over a bare ``import airflow.sdk``.

Each sample is a fresh interpreter (warm file cache, cold ``sys.modules``), so the figure is what
a DAG processor pays per parse of a DAG file that uses the provider. Prints medians of N runs.

    python bench/import_time.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "import time; t=time.perf_counter(); import airflow.sdk; {extra}; print(time.perf_counter()-t)"
PROVIDER = (
    "import airflow_ray_k8s.hooks.kuberay, "
    + ", ".join(
        f"airflow_ray_k8s.{sub}.{p.stem}"
        for sub in ("operators", "sensors")
        for p in sorted((ROOT / "airflow_ray_k8s" / sub).glob("*.py"))
        if not p.name.startswith("_")
    )
).rstrip(", ")


def sample(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    env = dict(os.environ, AIRFLOW_HOME=tempfile.mkdtemp(prefix="bench-import-"))
    sample(BASE.format(extra=PROVIDER), env)  # warm the .pyc cache once
    bare = [sample(BASE.format(extra="pass"), env) for _ in range(args.runs)]
    full = [sample(BASE.format(extra=PROVIDER), env) for _ in range(args.runs)]
    mb, mf = statistics.median(bare), statistics.median(full)
    print(f"modules: {PROVIDER.removeprefix('import ')}")
    print(f"runs: {args.runs} fresh interpreters each")
    print(f"import airflow.sdk alone:           median {mb * 1000:8.1f} ms")
    print(f"import airflow.sdk + provider:      median {mf * 1000:8.1f} ms")
    print(f"added by the provider:              median {(mf - mb) * 1000:8.1f} ms  (ratio {mf / mb:.3f})")


if __name__ == "__main__":
    main()
