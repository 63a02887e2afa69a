"""Import modules in a fresh interpreter and report which heavy modules they pulled in.

Used by the import-isolation test and by ``bench/import_time.py``. Run as a script:
``python -m tests.import_probe MODULE...``; prints one JSON object.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

# What DAG parsing must never pay for.
HEAVY = ("ray", "kubernetes", "kubernetes_asyncio", "kmock", "airflow_ray_k8s.specs")


def main(modules: list[str]) -> None:
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    elapsed = time.perf_counter() - started
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    print(json.dumps({"seconds": elapsed, "heavy": loaded}))


if __name__ == "__main__":
    main(sys.argv[1:])
