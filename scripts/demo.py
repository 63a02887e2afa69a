"""The README's main command (``make demo``): two example pipelines end to end on the local KubeRay.

1. starts the local KubeRay (emulated Kubernetes API + KubeRay v1.7 controller running real Ray
   heads on this machine, listening on 127.0.0.1 only) and points the ``kuberay_default``
   connection at it;
2. creates Airflow's metadata DB (SQLite) in ``.airflow/``;
3. runs ``airflow dags test`` for ``example_ray_daily_train`` and ``example_ray_shared_cluster``;
4. prints each task's state and duration, the RayJobs and their job status, the ``RESULT`` lines of
   the Ray programs, and where the logs are;
5. stops everything and checks that no Ray process and no RayCluster is left.

Everything it writes stays in the project folder (``.airflow/``, ``.emulator/``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
WORKDIR = ROOT / ".emulator"
DAGS = ROOT / "dags_examples"
RUNS = (("example_ray_daily_train", "2026-11-01"), ("example_ray_shared_cluster", "2026-11-01"))
RESULT = re.compile(r"RESULT program=\S+(?: \w+=\S+)*")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(AIRFLOW_HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # The venv's bin first, so the Ray heads and their job drivers use this environment's python.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def _airflow(args: list[str], env: dict[str, str], log: Path) -> int:
    airflow = str(Path(sys.executable).parent / "airflow")
    with log.open("w") as out:
        return subprocess.run([airflow, *args], env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def _task_rows(dag_id: str) -> list[dict[str, Any]]:
    """The newest run's task instances of ``dag_id``, read from the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            return []
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        rows = []
        for ti in sorted(tis, key=lambda t: (t.start_date or t.end_date or run.start_date, t.map_index)):
            rows.append(
                {
                    "task": ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]",
                    "state": str(ti.state),
                    "seconds": ti.duration,
                    "xcom": _return_value(session, ti),
                }
            )
        return rows


def _return_value(session: Any, ti: Any) -> Any:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.execute(
        select(XComModel.value).where(
            XComModel.dag_id == ti.dag_id,
            XComModel.run_id == ti.run_id,
            XComModel.task_id == ti.task_id,
            XComModel.map_index == ti.map_index,
            XComModel.key == "return_value",
        )
    ).first()
    return None if row is None else XComModel.deserialize_value(row)


def _results(log: Path) -> list[str]:
    found: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        match = RESULT.search(line)
        if match and match.group(0) not in found:
            found.append(match.group(0))
    return found


def _log_emulator_to(path: Path) -> None:
    """Send the local KubeRay's own log (head starts, retries, reconciles) to a file, not the screen."""
    import logging

    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    emulator = logging.getLogger("airflow_ray_k8s.testing")
    emulator.addHandler(handler)
    emulator.setLevel(logging.INFO)
    emulator.propagate = False


def main() -> int:
    """Run the demo; exit status 0 only if both DAG runs succeeded and nothing was left behind."""
    env = _env()
    os.environ.update(env)
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    logs = AIRFLOW_HOME / "demo"
    logs.mkdir(exist_ok=True)

    # Airflow configures logging when first imported (and drops other handlers): import it first.
    import airflow.settings  # noqa: F401

    _log_emulator_to(logs / "local-kuberay.log")
    from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
    from airflow_ray_k8s.testing.pytest_plugin import surviving_ray_groups

    started = time.monotonic()
    ok = True
    print("Starting the local KubeRay (Kubernetes API + KubeRay v1.7 controller with real Ray heads)...")
    with LocalKubeRay(mode="ray", workdir=WORKDIR) as kr:
        env.update(kr.airflow_conn_env())
        os.environ.update(env)
        print(f"  API at {kr.url}; kubeconfig {kr.kubeconfig_path.relative_to(ROOT)}")
        print("Creating Airflow's metadata DB (SQLite) in .airflow/ ...")
        if _airflow(["db", "migrate"], env, logs / "db-migrate.log") != 0:
            print(f"  airflow db migrate failed: see {logs / 'db-migrate.log'}")
            return 1
        for dag_id, day in RUNS:
            log = logs / f"{dag_id}.log"
            print(f"\n$ airflow dags test {dag_id} {day}   (output: {log.relative_to(ROOT)})")
            t0 = time.monotonic()
            code = _airflow(["dags", "test", dag_id, day], env, log)
            rows = _task_rows(dag_id)
            print(f"  finished in {time.monotonic() - t0:.0f} s, exit status {code}")
            for row in rows:
                secs = f"{row['seconds']:.1f} s" if row["seconds"] is not None else "-"
                extra = ""
                if isinstance(row["xcom"], dict) and "job_status" in row["xcom"]:
                    extra = f"  RayJob {row['xcom']['name']} -> {row['xcom']['job_status']}"
                elif isinstance(row["xcom"], dict) and "name" in row["xcom"]:
                    extra = f"  RayCluster {row['xcom']['name']}"
                print(f"    {row['task']:<22} {row['state']:<10} {secs:>8}{extra}")
            for line in _results(log):
                print(f"    {line}")
            ok = ok and code == 0 and bool(rows) and all(r["state"] == "success" for r in rows)
        # Ephemeral clusters go TTL seconds after their job; the teardown deleted the shared one.
        deadline = time.monotonic() + 180
        while kr.objects(RAYCLUSTER) and time.monotonic() < deadline:
            time.sleep(1)
        clusters = [o["metadata"]["name"] for o in kr.objects(RAYCLUSTER)]
        jobs = [o["metadata"]["name"] for o in kr.objects(RAYJOB)]
    survivors = surviving_ray_groups(WORKDIR)
    print(f"\nLeft behind: RayClusters {clusters or 'none'}, RayJobs {jobs or 'none'}, ", end="")
    print(f"Ray process groups {survivors or 'none'}")
    from airflow_ray_k8s.testing.emulator.rayproc import describe_survivors

    for line in describe_survivors(WORKDIR) if survivors else []:
        print(f"  {line}")
    # ``airflow dags test`` prints the task logs (with the streamed driver logs) to its output.
    print(f"Task logs, with the Ray driver logs: {logs.relative_to(ROOT)}/<dag_id>.log")
    print(f"Local KubeRay log: {(logs / 'local-kuberay.log').relative_to(ROOT)}")
    print(f"Total wall time: {time.monotonic() - started:.0f} s")
    ok = ok and not clusters and not jobs and not survivors
    print("DEMO OK" if ok else "DEMO FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
