"""RayJob start-up (``ray_k8s.rayjob.startup``) on a cold node and after the image pre-pull DaemonSet.

On the real control plane (kube-apiserver, etcd, kube-controller-manager with its DaemonSet
controller, the KubeRay operator; built by ``make real-kuberay``) whose node agent models an image
pull (``image_pull_seconds``; nothing is fetched: there is no registry here). A small DAG with one
``RayJobOperator`` (its own RayCluster, a real Ray program as entrypoint, K8sJobMode submitter) runs
with ``dag.test()``; Airflow's StatsD client sends the provider's metrics to a StatsD server on
loopback, from which the start-up figure is read.

1. Cold: before each run the node forgets its images, so the head pod pulls the Ray image.
2. Pre-pulled: ``deploy/ray-image-prepull.yaml`` as shipped is applied once (namespace
   ``ray-jobs``) and rolled out; then the same runs, the image already on the node.

Every run ends with the RayJob, its cluster and their pods gone before the next starts. Prints each
run's figure, the medians and their ratio::

    REALKUBE_DIR=... python bench/prepull_startup.py [--runs 3] [--pull-seconds 20]

The default pull time, 20 s, models a ~2 GB Ray image (``rayproject/ray:2.x-py311``, the size the
events report) fetched and unpacked at ~100 MB/s; a GPU image (~10 GB) or a slower registry path
takes minutes, which the pre-pull saves the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# A throw-away AIRFLOW_HOME (its SQLite DB) unless one is given; removed at the end.
OWN_HOME = "AIRFLOW_HOME" not in os.environ
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-prepull-home-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

NAMESPACE = "ray-jobs"
MANIFEST = ROOT / "deploy" / "ray-image-prepull.yaml"
METRIC = "airflow.ray_k8s.rayjob.startup"
DAG_ID = "prepull_startup"

# The DAG file: dag.test() runs DAGs of the dags-folder bundle only, so it is written to a folder.
DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_ray_k8s.operators.rayjob import RayJobOperator

IMAGE = {image!r}
ENTRYPOINT = (
    'python -c "import ray; ray.init(); '
    'print(sum(ray.get([ray.remote(lambda x: x*x).remote(i) for i in range(10)])))"'
)
head = {{"name": "ray-head", "image": IMAGE, "resources": {{"limits": {{"cpu": "1", "memory": "2Gi"}}}}}}
template = {{"spec": {{"containers": [head]}}}}
with DAG({dag_id!r}, start_date=datetime(2026, 1, 1), schedule=None, catchup=False) as dag:
    RayJobOperator(
        task_id="train",
        entrypoint=ENTRYPOINT,
        ray_cluster_spec={{"headGroupSpec": {{"rayStartParams": {{}}, "template": template}}}},
        namespace={namespace!r},
        deferrable=False,
        log_interval=1,
        startup_timeout=600,
        ttl_seconds_after_finished=1,
    )
"""


def _wait(check: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"not within {timeout:.0f} s: {what}")


def _ray_objects_gone(kr: Any) -> bool:
    left = [
        p["metadata"]["name"]
        for p in kr.objects("pods", NAMESPACE)
        if not p["metadata"]["name"].startswith("ray-image-prepull-")
    ]
    return not (left or kr.objects("rayjobs", NAMESPACE) or kr.objects("rayclusters", NAMESPACE))


def one_run(kr: Any, dag: Any, listener: Any, day: datetime) -> tuple[float, float]:
    """One DAG run: (the start-up metric, the run's wall time), in seconds."""
    before = len(listener.samples)
    began = time.monotonic()
    dr = dag.test(logical_date=day, run_after=day)
    wall = time.monotonic() - began
    if str(dr.state) != "success":
        raise SystemExit(f"the DAG run {dr.run_id} ended {dr.state}")
    _wait(lambda: [s for s in listener.samples[before:] if s.name == METRIC], f"{METRIC} received", 10)
    (sample,) = [s for s in listener.samples[before:] if s.name == METRIC]
    _wait(lambda: _ray_objects_gone(kr), "the RayJob, its cluster and pods gone")
    return sample.value / 1000, wall


def apply_prepull(kr: Any) -> None:
    """Apply the DaemonSet as shipped and wait until it is ready on the node."""
    from airflow_ray_k8s.testing.realkube.manifests import documents

    (ds,) = documents(MANIFEST)
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets"
    kr.call(kr.admin.create(path, ds))

    def ready() -> bool:
        status = kr.call(kr.admin.get(f"{path}/{ds['metadata']['name']}")).get("status") or {}
        return status.get("desiredNumberScheduled") == status.get("numberReady") == 1

    began = time.monotonic()
    _wait(ready, "the DaemonSet ready", 180)
    print(f"pre-pull DaemonSet ready in {time.monotonic() - began:.1f} s", flush=True)


def measure(kr: Any, dags: Path, image: str, runs: int) -> dict[str, list[float]]:
    """The start-up figures of ``runs`` cold and ``runs`` pre-pulled runs, in seconds."""
    from tests.airflow_env import airflow_db_with_dags
    from tests.statsd_listener import StatsdListener

    with StatsdListener() as listener, kr, airflow_db_with_dags(dags):
        os.environ.update(listener.airflow_env())
        os.environ.update(kr.airflow_conn_env())
        # What Airflow's task runner does when a task process starts; dag.test() runs tasks here.
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics import stats_utils

        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        sys.path.insert(0, str(dags))
        dag = __import__("prepull_startup_dag").dag
        day = datetime(2026, 1, 1, tzinfo=timezone.utc)
        figures: dict[str, list[float]] = {"cold": [], "pre-pulled": []}
        for phase in figures:
            if phase == "pre-pulled":
                kr.forget_images()
                apply_prepull(kr)
            for i in range(runs):
                if phase == "cold":
                    kr.forget_images()
                held = image in kr.held_images()
                startup, wall = one_run(kr, dag, listener, day)
                day += timedelta(days=1)
                figures[phase].append(startup)
                print(
                    f"{phase} run {i}: image on the node before: {held}; "
                    f"{METRIC} = {startup:.2f} s (DAG run wall time {wall:.1f} s)",
                    flush=True,
                )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per phase")
    parser.add_argument("--pull-seconds", type=float, default=20.0, help="modelled pull of the Ray image")
    args = parser.parse_args()

    from airflow_ray_k8s.testing.realkube.controlplane import RealKubeRay, unavailable_reason
    from airflow_ray_k8s.testing.realkube.manifests import documents

    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"cannot start the real control plane: {reason}")
    (ds,) = documents(MANIFEST)
    image = ds["spec"]["template"]["spec"]["initContainers"][0]["image"]
    work = Path(tempfile.mkdtemp(prefix="bench-prepull-"))
    dags = work / "dags"
    dags.mkdir()
    (dags / "prepull_startup_dag.py").write_text(
        textwrap.dedent(DAG_FILE.format(image=image, dag_id=DAG_ID, namespace=NAMESPACE))
    )
    kr = RealKubeRay(
        work / "realkube",
        jobs_namespace=NAMESPACE,
        max_pods=4,
        image_pull_seconds=args.pull_seconds,
        # Ray's head drains for up to 30 s on SIGTERM; nothing to drain here (as the tests' image).
        image_env={"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
    )
    try:
        figures = measure(kr, dags, image, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if OWN_HOME:
            shutil.rmtree(os.environ["AIRFLOW_HOME"], ignore_errors=True)
    cold, warm = (statistics.median(v) for v in figures.values())
    load = os.getloadavg()[0]
    print(
        f"\nmedians over {args.runs} runs each, modelled pull {args.pull_seconds:g} s "
        f"(load average now {load:.1f} on {os.cpu_count()} CPUs):"
    )
    print(f"  cold node            {cold:7.2f} s")
    print(f"  pre-pulled node      {warm:7.2f} s")
    print(f"  saved                {cold - warm:7.2f} s (cold / pre-pulled = {cold / warm:.2f})")


if __name__ == "__main__":
    main()
