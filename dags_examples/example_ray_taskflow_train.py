"""The daily training pipeline in TaskFlow: ``@task.ray`` functions whose return values feed the next.

``create_cluster`` (setup) starts one RayCluster for the run. ``prepare`` summarises the day's data
with ``ray.data``; ``train`` is mapped over the learning rates, each a data-parallel gradient
descent on Ray actors returning its model (``w``, ``b``, training MSE); ``evaluate`` receives the
three models (the mapped tasks' return values, as a list argument), scores them on the validation
split in parallel Ray tasks and returns the best one, failing if even the best is above the
``max_val_mse`` gate; ``delete_cluster`` is the teardown, so the cluster goes whatever happens.

Each function's own source runs on the cluster (no module-level names of this file); the shared
code (``ray_programs/pipeline.py``: the day's generated data, the ``Shard`` actor) is on the
cluster's ``PYTHONPATH`` (the local KubeRay's heads see this folder; on a real cluster bake it into
the image or mount it, as ``ray_examples_common`` does). ``ds`` and ``params`` are Airflow context
keys: the functions name them and get them as JSON. Backfill-friendly like the daily DAG::

    airflow dags backfill example_ray_taskflow_train --start-date 2026-11-01 --end-date 2026-11-07
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task
from ray_examples_common import LEARNING_RATES, PROGRAMS_ENV, cpu_cluster

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator

with DAG(
    dag_id="example_ray_taskflow_train",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=True,
    max_active_runs=1,  # each run brings its own cluster
    params={"epochs": 100, "rows": 1000, "max_val_mse": 0.01},
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["ray", "example", "taskflow"],
) as dag:
    create = RayClusterCreateOperator(
        task_id="create_cluster", ray_cluster_spec=cpu_cluster(workers=1), deferrable=True
    )
    # What every function of the pipeline runs on: the cluster create_cluster named (derived from
    # the DAG run, the same for every try), with the shared code on its PYTHONPATH.
    on_cluster = {"cluster_name": create.output["name"], "runtime_env": PROGRAMS_ENV, "deferrable": True}

    @task.ray(**on_cluster)
    def prepare(ds: str | None = None, params: dict | None = None) -> dict[str, float]:
        """The day's rows as a Ray Dataset, summarised in one aggregation pass."""
        import functools

        import ray
        from pipeline import featurize
        from ray.data.aggregate import Count, Mean, Std, Sum

        rows = int(params["rows"])
        data = ray.data.range(rows, override_num_blocks=2).map_batches(
            functools.partial(featurize, ds=ds), batch_format="numpy"
        )
        stats = data.aggregate(
            Count(alias_name="rows"),
            Sum("is_val", alias_name="val_rows"),
            Mean("y", alias_name="mean_y"),
            Std("y", alias_name="std_y"),
        )
        return {
            "rows": int(stats["rows"]),
            "val_rows": int(stats["val_rows"]),
            "mean_y": round(float(stats["mean_y"]), 6),
            "std_y": round(float(stats["std_y"]), 6),
        }

    @task.ray(**on_cluster)
    def train(lr: float, ds: str | None = None, params: dict | None = None) -> dict[str, float]:
        """Full-batch gradient descent, the gradient summed over two Shard actors."""
        import ray
        from pipeline import Shard

        rows, epochs, workers = int(params["rows"]), int(params["epochs"]), 2
        shards = [Shard.remote(ds, rows, i, workers) for i in range(workers)]
        n = sum(ray.get([s.size.remote() for s in shards]))
        w = b = 0.0
        for _ in range(epochs):
            parts = ray.get([s.gradient.remote(w, b) for s in shards])  # fixed order: deterministic
            w -= lr * sum(p[0] for p in parts) / n
            b -= lr * sum(p[1] for p in parts) / n
        sse = sum(p[2] for p in ray.get([s.gradient.remote(w, b) for s in shards]))
        return {"lr": lr, "w": w, "b": b, "train_mse": sse / n}

    @task.ray(**on_cluster)
    def evaluate(models: list, ds: str | None = None, params: dict | None = None) -> dict:
        """Score every model on the validation split (one Ray task each) and keep the best."""
        import numpy as np
        import ray
        from pipeline import day_arrays

        @ray.remote
        def validation_mse(model: dict) -> float:
            x, y = day_arrays(ds, int(params["rows"]), validation=True)
            return float(np.mean((model["w"] * x + model["b"] - y) ** 2))

        scores = ray.get([validation_mse.remote(m) for m in models])
        best_mse, best = min(zip(scores, models, strict=True), key=lambda pair: pair[0])
        if best_mse > float(params["max_val_mse"]):
            raise ValueError(
                f"the best validation MSE {best_mse:.6f} is above the gate {params['max_val_mse']}"
            )
        return {
            "best_lr": best["lr"],
            "val_mse": best_mse,
            "w": best["w"],
            "b": best["b"],
            "candidates": {str(m["lr"]): score for m, score in zip(models, scores, strict=True)},
        }

    delete = RayClusterDeleteOperator(task_id="delete_cluster", cluster_name=create.output["name"])

    summary = prepare()
    models = train.expand(lr=list(LEARNING_RATES))
    best = evaluate(models)
    create >> summary >> models
    best >> delete.as_teardown(setups=create)
