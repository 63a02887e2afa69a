"""``@task.ray`` DAGs run by ``tests/integration/airflow/test_taskflow_dags.py`` (``dag.test()``).

Like ``ray_lifecycle.py``: small, fast, head-only clusters, short TTLs. In the emulator's scripted
mode nothing runs the function, so a DAG that runs in both modes declares, in the ``driver-log``
annotation, the record its function prints (:func:`returns_record`); the real controller ignores
the annotation and the real function prints the same.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import task
from dag_common import CLUSTER, FAILURES, FAST, SCRIPTED, _dag, _record_failure, scripted

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.results import encode

__all__ = ["FAILURES"]

#: Lines a driver prints after its record: reading the record must not depend on the log's tail.
LONG_LOG_LINES = 3000


def returns_record(value: object, *, seconds: float = 1.0) -> dict[str, str]:
    """Scripted-mode annotations: the job succeeds after ``seconds``; its driver prints the
    ``return`` record of ``value``, then :data:`LONG_LOG_LINES` lines."""
    return {
        **scripted(seconds=seconds),
        SCRIPTED + "driver-log": encode("return", value),
        SCRIPTED + "driver-log-filler-lines": str(LONG_LOG_LINES),
    }


# --- one function on its own ephemeral cluster, deferrable, retried (both modes) ------------------------
with _dag("taskflow_answer") as taskflow_answer:

    @task.ray(
        ray_cluster_spec=CLUSTER,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=0),
        job_annotations=returns_record({"question": "life", "attempt": "{{ ti.try_number }}", "answer": 42}),
        **FAST,
    )
    def answer(question: str, attempt: str) -> dict[str, object]:
        # A long log (the scripted driver prints its record before it: the tail must not matter).
        for i in range(1, 3001):
            print(f"filler line {i} of 3000 (a long driver log)")
        return {"question": question, "attempt": attempt, "answer": 42}

    answer("life", attempt="{{ ti.try_number }}")


# --- the worker dies while the function runs; the retry re-attaches (real Ray) -------------------------
with _dag("taskflow_worker_dies") as taskflow_worker_dies:

    @task.ray(
        ray_cluster_spec=CLUSTER,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=0),
        job_annotations=returns_record({"slept": 15, "answer": 42}, seconds=15),
        **FAST,
    )
    def slow_answer(seconds: int) -> dict[str, int]:
        import time

        print("started", flush=True)
        time.sleep(seconds)
        return {"slept": seconds, "answer": 42}

    slow_answer(15)


# --- a shared cluster: mapped functions, a reduce, a plain program that publishes, failures (real Ray) --
with _dag("taskflow_on_ray") as taskflow_on_ray:
    create = RayClusterCreateOperator(
        task_id="create_cluster", ray_cluster_spec=CLUSTER, startup_timeout=200, deferrable=True
    )
    cluster = create.output["name"]

    @task.ray(cluster_name=cluster, deferrable=True, log_interval=0.5)
    def square(x: int, ds: str | None = None) -> dict[str, object]:
        import ray

        @ray.remote
        def times(a: int, b: int) -> int:
            return a * b

        return {"x": x, "square": ray.get(times.remote(x, x)), "ds": ds}

    squares = square.expand(x=[1, 2, 3])

    @task.ray(cluster_name=cluster, deferrable=False, log_interval=0.5, multiple_outputs=True)
    def total(items: list[dict[str, int]]) -> dict[str, int]:
        return {"sum": sum(item["square"] for item in items), "count": len(items)}

    summed = total(squares)

    publisher = RayJobOperator(
        task_id="publisher",
        cluster_name=cluster,
        # A plain program: publishes early, prints a long log, publishes again.
        entrypoint=(
            "python -c \"from airflow_ray_k8s.results import publish; publish({'rows': 10, 'stage': 1}); "
            "[print('noise', i) for i in range(3000)]; publish({'stage': 2})\""
        ),
        get_logs=False,
        deferrable=True,
        log_interval=0.5,
    )

    @task.ray(cluster_name=cluster, deferrable=True, log_interval=0.5, on_failure_callback=_record_failure)
    def broken(n: int) -> int:
        def check(value: int) -> int:
            if value < 0:
                raise ValueError(f"n must be positive, got {value}")
            return value

        return check(n)

    @task.ray(cluster_name=cluster, deferrable=False, log_interval=0.5, on_failure_callback=_record_failure)
    def not_json() -> dict[str, object]:
        import datetime

        return {"when": datetime.date(2026, 1, 1)}

    delete = RayClusterDeleteOperator(task_id="delete_cluster", cluster_name=cluster)
    create >> [squares, publisher, broken(-1), not_json()] >> delete.as_teardown(setups=create)
    summed >> delete
