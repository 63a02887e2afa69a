"""Added import time of the provider's DAG-facing modules.

Two baselines: a bare ``import airflow.sdk`` (which loads its classes lazily), and a DAG file that
already uses the SDK's base classes (``DAG``, ``BaseOperator``, ``BaseSensorOperator``, ``BaseHook``,
``BaseOperatorLink``), as any DAG with an operator does. The second difference is what the provider
itself costs a DAG file. Each sample is a fresh interpreter (warm file cache, cold ``sys.modules``),
as a DAG processor's parse is. Prints medians of N runs.

Then ``@task.ray``: a TaskFlow DAG file already resolves ``task.python`` (which runs the
ProvidersManager's discovery of every provider); the provider's share is what resolving
``task.ray`` adds on top (the decorator module, ``RayJobOperator`` and what they import), timed
in-process the same way, to compare with the operators' own share.

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
SDK_CLASSES = "from airflow.sdk import DAG, BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator"
# The provider's own share, timed inside one interpreter after the SDK classes: far less noisy than
# a difference of two whole-interpreter timings on a shared machine.
INSIDE = (
    "import airflow.sdk; {sdk}; import time; t=time.perf_counter(); {provider}; print(time.perf_counter()-t)"
)
PROVIDER = (
    "import airflow_ray_k8s.hooks.kuberay, "
    + ", ".join(
        f"airflow_ray_k8s.{sub}.{p.stem}"
        for sub in ("operators", "sensors")
        for p in sorted((ROOT / "airflow_ray_k8s" / sub).glob("*.py"))
        if not p.name.startswith("_")
    )
).rstrip(", ")


# A TaskFlow DAG file: the SDK classes and a resolved @task (ProvidersManager discovery done).
TASKFLOW = f"{SDK_CLASSES}; from airflow.sdk import task; task.python"
INSIDE_TASKFLOW = (
    "import airflow.sdk; {taskflow}; import time; t=time.perf_counter(); task.ray;"
    " print(time.perf_counter()-t)"
)


def sample(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    env = dict(os.environ, AIRFLOW_HOME=tempfile.mkdtemp(prefix="bench-import-"))
    sample(BASE.format(extra=PROVIDER), env)  # warm the .pyc cache once
    bare, base, full, inside, flow, flow_ray, inside_ray = [], [], [], [], [], [], []
    for _ in range(args.runs):  # interleaved, so that machine noise hits all three alike
        bare.append(sample(BASE.format(extra="pass"), env))
        base.append(sample(BASE.format(extra=SDK_CLASSES), env))
        full.append(sample(BASE.format(extra=f"{SDK_CLASSES}; {PROVIDER}"), env))
        inside.append(sample(INSIDE.format(sdk=SDK_CLASSES, provider=PROVIDER), env))
        flow.append(sample(BASE.format(extra=TASKFLOW), env))
        flow_ray.append(sample(BASE.format(extra=f"{TASKFLOW}; task.ray"), env))
        inside_ray.append(sample(INSIDE_TASKFLOW.format(taskflow=TASKFLOW), env))
    mb, mc, mf = statistics.median(bare), statistics.median(base), statistics.median(full)
    print(f"modules: {PROVIDER.removeprefix('import ')}")
    print(f"runs: {args.runs} fresh interpreters each")
    print(f"import airflow.sdk alone:                    median {mb * 1000:8.1f} ms")
    print(f"  + the SDK base classes a DAG file uses:    median {mc * 1000:8.1f} ms")
    print(f"  + the provider's hook/operators/sensors:   median {mf * 1000:8.1f} ms")
    print(f"added over the SDK classes: median {(mf - mc) * 1000:8.1f} ms  (ratio {mf / mc:.3f})")
    print(f"added over bare airflow.sdk: median {(mf - mb) * 1000:8.1f} ms  (ratio {mf / mb:.3f})")
    mi = statistics.median(inside)
    print(f"provider import timed in-process after the SDK classes: median {mi * 1000:.1f} ms")
    mt, mr, mir = statistics.median(flow), statistics.median(flow_ray), statistics.median(inside_ray)
    print(f"a TaskFlow DAG file (SDK classes + task.python):  median {mt * 1000:8.1f} ms")
    print(f"  + task.ray resolved:                         median {mr * 1000:8.1f} ms")
    added = (mr - mt) * 1000
    print(f"added by task.ray over a TaskFlow DAG file: median {added:8.1f} ms  (ratio {mr / mt:.3f})")
    print(f"task.ray timed in-process after task.python: median {mir * 1000:.1f} ms", end="")
    print(f" (the hook/operators/sensors above: {mi * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
