"""The figures :mod:`airflow_ray_k8s.metrics` computes from a finished RayJob (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_ray_k8s import metrics
from airflow_ray_k8s.status import RayJobStatus


def _ts(second: float) -> float:
    return datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + second


def _iso(second: int) -> str:
    return datetime.fromtimestamp(_ts(second), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job(**status: object) -> RayJobStatus:
    fields = {
        "creation_timestamp": _iso(0),
        "start_time": _iso(0),
        "ray_job_start_time": _iso(10),
        "ray_job_end_time": _iso(70),
        "cluster_ready_time": _iso(8),
        "desired_cpu": "2500m",
        "desired_memory": "3Gi",
        "desired_gpu": "1",
    }
    fields.update(status)
    return RayJobStatus(**fields)  # type: ignore[arg-type]


def test_kuberays_timestamps_give_startup_run_and_resources_without_the_waits_timings() -> None:
    figures = metrics.rayjob_figures(_job(), None, outcome="succeeded", reason="")
    assert (figures.startup, figures.run, figures.held, figures.queue_wait) == (10, 60, 70, None)
    assert figures.reason == "none"
    assert figures.cluster_startup == 8  # of the 10 s, the cluster took 8 and the submission 2
    assert figures.resources == metrics.Resources(cpu=2.5, memory_mib=3072, gpu=1)
    assert figures.resources.times(figures.held) == (175, 215040, 70)


def test_an_observation_inside_kuberays_second_refines_it_and_a_late_one_does_not() -> None:
    seen = {"running_at": _ts(10.4), "ended_at": _ts(75)}  # the end seen 5 s late (KubeRay's poll)
    figures = metrics.rayjob_figures(_job(), seen, outcome="succeeded", reason="")
    assert figures.startup == pytest.approx(10.4 - 0.5)  # creation: the middle of its second
    assert figures.run == pytest.approx(70.5 - 10.4)  # the late end: the middle of its second


def test_a_queued_job_counts_from_its_admission() -> None:
    job = _job(start_time=_iso(300), ray_job_start_time=_iso(320), ray_job_end_time=_iso(380))
    figures = metrics.rayjob_figures(
        job, {"admitted_at": _ts(299.5)}, outcome="succeeded", reason="", queue="team-a"
    )
    # Whole-second timestamps count from the middle of their second: created at 0.5.
    assert figures.queue_wait == pytest.approx(299)
    assert figures.startup == pytest.approx(21)
    assert figures.held == pytest.approx(81)  # resources are requested from admission only
    # After a triggerer restart the wait did not see the admission: KubeRay's startTime stands in.
    restarted = metrics.rayjob_figures(job, {}, outcome="succeeded", reason="", queue="team-a")
    assert (restarted.queue_wait, restarted.startup) == (300, 20)


def test_a_job_that_never_ran_has_no_startup_run_or_resources() -> None:
    job = _job(ray_job_start_time="", ray_job_end_time="", end_time="", desired_cpu="")
    figures = metrics.rayjob_figures(job, {}, outcome="startup_timeout", reason="StartupTimeout")
    assert (figures.startup, figures.run, figures.held) == (None, None, None)


def test_a_job_on_a_shared_cluster_leaves_the_resources_to_the_clusters_delete() -> None:
    figures = metrics.rayjob_figures(_job(), None, outcome="succeeded", reason="", own_cluster=False)
    assert figures.held is None
    assert figures.run == 60


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 0.0), ("3", 3.0), ("500m", 0.5), ("1Gi", 2**30), ("garbage", 0.0)]
)
def test_quantities(raw: str, expected: float) -> None:
    assert metrics._quantity(raw) == expected


def test_a_reason_is_one_name_segment() -> None:
    assert metrics._safe("Job.Deployment Status") == "Job_Deployment_Status"
    assert metrics._safe("") == "none"


def test_every_name_sent_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    names = [v for k, v in vars(metrics).items() if k.startswith(("RAYJOB_", "RAYCLUSTER_"))]
    names += [f"{metrics.PREFIX}.rayjob.{s}" for s in metrics.RESOURCE_SUFFIXES]
    missing = [n for n in names if f"`{n}" not in text]
    assert missing == []
    assert f"`{metrics.PREFIX}.raycluster.cpu_seconds`" in text
