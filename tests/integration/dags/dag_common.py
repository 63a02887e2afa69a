"""What the test DAG files share: a head-only cluster, fast settings, scripted outcomes, failures.

A module without DAGs: a DAG file that imported another DAG file would make the DAG processor see
the other file's DAGs twice.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

# A head-only cluster: what a local Ray head provides (the emulator ignores requests it cannot give).
CLUSTER = {
    "rayVersion": "2.52.0",
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": "rayproject/ray:2.52.0",
                        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                    }
                ]
            }
        },
    },
}
START = datetime(2026, 1, 1)
TTL = 2  # seconds: KubeRay-side cleanup must be observable within a test
# startup_timeout is generous: a Ray head takes ~5 s on an idle 2-core machine, 40 s on a busy one.
FAST = {"log_interval": 0.5, "startup_timeout": 200, "ttl_seconds_after_finished": TTL}
SCRIPTED = "emulator.airflow-ray-k8s.io/"


def scripted(outcome: str = "SUCCEEDED", seconds: float | str = 1.0) -> dict[str, str]:
    """What the scripted mode makes of a job (the real entrypoint does the same)."""
    return {SCRIPTED + "outcome": outcome, SCRIPTED + "duration-seconds": str(seconds)}


#: What each DAG's failure callbacks saw (read by the tests; DAG runs are in-process).
FAILURES: list[str] = []


def _record_failure(context: dict) -> None:  # type: ignore[type-arg]
    FAILURES.append(f"{context['ti'].task_id}: {context.get('exception')}")


def _dag(dag_id: str, **kwargs: object) -> DAG:
    kwargs.setdefault("schedule", None)
    return DAG(dag_id, start_date=START, catchup=False, **kwargs)  # type: ignore[arg-type]
