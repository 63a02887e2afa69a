"""Functions as DAG files write them, for the @task.ray source and entrypoint tests.

Line numbers matter: the tests check that tracebacks on the "cluster" point at these lines.
"""

from __future__ import annotations

import json  # a module-level import a shipped function must not use

from airflow.sdk import setup, task

SCALE = 10  # a module-level constant a shipped function must not use


@task.ray(cluster_name="shared")
def add(a: int, b: int = 2, ds: str | None = None) -> dict[str, object]:
    """A self-contained function: everything it uses is local or builtin."""
    import math

    return {"sum": a + b, "sqrt": math.sqrt(a + b), "ds": ds}


@setup
@task.ray(
    cluster_name="shared",
    deferrable=True,
)
def nested_failure(n: int) -> int:
    def deeper(v: int) -> int:
        raise ValueError(f"n must be positive, got {v}")

    return deeper(n)


on_shared = task.ray(cluster_name="shared", deferrable=True)  # a decorator under another name


@on_shared
def reused(x: int) -> int:
    return x + 1


def uses_module_names(x: int) -> str:
    return json.dumps({"x": x * SCALE})


def make_closure() -> object:
    factor = 3

    def scaled(x: int) -> int:
        return x * factor

    return scaled


def returns_a_set() -> dict[str, object]:
    return {"ids": {1, 2}}


def publishes_then_returns(n: int) -> int:
    from airflow_ray_k8s.results import publish

    publish({"step": "loaded", "rows": n})
    for i in range(n):
        print("progress", i)
    publish({"step": "done"})
    return n * 2


def annotated(frame: DataFrameLike) -> Model:  # noqa: F821 -- names only the DAG file would import
    result: Model = {"rows": len(frame)}  # noqa: F821
    return result


def recursive(n: int) -> int:
    return 1 if n <= 1 else n * recursive(n - 1)


def takes_context(x: int, ds: str | None = None, params: dict[str, object] | None = None) -> object:
    return [x, ds, params]


async def coroutine() -> int:
    return 1


def generator() -> object:
    yield 1
