"""The sweep against the local KubeRay's API (no controller): it lists by label across the allowed
namespaces, deletes only expired objects it created, and nothing in a dry run; the CLI prints the
same verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.naming import ANNOTATION_EXPIRES_AT, LABEL_MANAGED_BY, MANAGED_BY_VALUE, TaskIdentity
from airflow_ray_k8s.resources import NAMESPACE, RAYCLUSTER, RAYJOB
from airflow_ray_k8s.sweep.cli import main
from airflow_ray_k8s.sweep.run import sweep
from airflow_ray_k8s.sweep.verdicts import ABSENT
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.kube.kube_it import FAST_RETRY, settings_for
from tests.sweep_objects import FUTURE, PAST, foreign, forged, ours

NAMESPACES = ("team-a", "team-b")
EXPIRED_ORPHANS = {"rayjobs/team-a/old-job", "rayclusters/team-a/old-cluster", "rayjobs/team-b/old-job-b"}


def _names(kr: LocalKubeRay) -> set[str]:
    return {
        f"{plural}/{o['metadata']['namespace']}/{o['metadata']['name']}"
        for plural in ("rayjobs", "rayclusters")
        for o in kr.objects(plural)
    }


@pytest.fixture
def world(fresh_kuberay_api: LocalKubeRay) -> Iterator[tuple[LocalKubeRay, KubeClient]]:
    """Ours (expired, unexpired, the cluster KubeRay made for an expired RayJob) and foreign objects
    (no label, another manager's label, a copy of our labels naming another task, in and outside the
    allowed namespaces)."""
    kr = fresh_kuberay_api
    settings = settings_for(kr, namespace="team-a", allowed_namespaces=frozenset(NAMESPACES))
    client = KubeClient(settings, retry_policy=FAST_RETRY)
    # The test's own set-up goes through a client without the allow-list.
    admin = KubeClient(settings_for(kr), retry_policy=FAST_RETRY)
    for namespace in (*NAMESPACES, "team-c"):
        admin.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    old_job = ours("RayJob", "old-job", "team-a", expires=PAST)
    objects: list[tuple[Any, dict[str, Any]]] = [
        (RAYJOB, old_job),
        (RAYCLUSTER, ours("RayCluster", "old-cluster", "team-a", expires=PAST)),
        (RAYJOB, ours("RayJob", "new-job", "team-a", expires=FUTURE)),
        (RAYCLUSTER, ours("RayCluster", "new-cluster", "team-a", expires=FUTURE)),
        (RAYJOB, ours("RayJob", "old-job-b", "team-b", expires=PAST)),
        # Expired and ours, but in a namespace the connection may not touch.
        (RAYJOB, ours("RayJob", "old-job-c", "team-c", expires=PAST)),
        (
            RAYJOB,
            foreign(
                "RayJob",
                "their-job",
                "team-a",
                labels={},
                annotations={ANNOTATION_EXPIRES_AT: "2020-01-01T00:00:00Z"},
            ),
        ),
        (
            RAYCLUSTER,
            foreign(
                "RayCluster",
                "their-cluster",
                "team-a",
                labels={LABEL_MANAGED_BY: "helm"},
                annotations={ANNOTATION_EXPIRES_AT: "2020-01-01T00:00:00Z"},
            ),
        ),
        (RAYJOB, forged("RayJob", "copycat-job", "team-b")),
    ]
    for resource, body in objects:
        admin.create(resource, body, namespace=body["metadata"]["namespace"])
    # The cluster KubeRay made for old-job: its labels and annotations copied, owned by the RayJob.
    made = ours("RayCluster", "old-job-x7k2p", "team-a", expires=PAST)
    job = client.get(RAYJOB, "old-job", namespace="team-a")
    made["metadata"]["ownerReferences"] = [
        {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "old-job", "uid": job["metadata"]["uid"]}
    ]
    admin.create(RAYCLUSTER, made, namespace="team-a")
    status = {"status": {"rayClusterName": "old-job-x7k2p"}}
    kr.call(lambda: kr.store.patch(RAYJOB, "team-a", "old-job", status, subresource="status"))
    try:
        yield kr, client
    finally:
        client.close()
        admin.close()


def test_a_dry_run_deletes_nothing_and_names_the_expired_orphans(
    world: tuple[LocalKubeRay, KubeClient],
) -> None:
    kr, client = world
    before = _names(kr)
    report = sweep(client, dry_run=True)
    assert _names(kr) == before
    assert report.deleted == []
    assert {f"{v.kind.lower()}s/{v.namespace}/{v.name}" for v in report.orphans} == EXPIRED_ORPHANS
    lines = report.lines()
    assert any(line.startswith("would delete RayJob team-a/old-job: task nightly.train") for line in lines)
    assert "keep RayCluster team-a/old-job-x7k2p: belongs to RayJob old-job" in lines
    assert lines[-1] == (
        "would delete 3 of 7 object(s) in team-a, team-b (task states from the expiry annotation alone)"
    )
    # Foreign objects are not even listed: the label selector is server-side.
    assert not any("their-" in line for line in lines)
    assert any("copycat-job: not created by airflow-ray-k8s" in line for line in lines)


def test_the_sweep_deletes_only_expired_orphans_it_created(world: tuple[LocalKubeRay, KubeClient]) -> None:
    kr, client = world
    before = _names(kr)
    report = sweep(client)
    assert set(report.deleted) == {
        "RayJob/team-a/old-job",
        "RayCluster/team-a/old-cluster",
        "RayJob/team-b/old-job-b",
    }
    assert report.errors == []
    gone = before - _names(kr)
    # The RayJob took the cluster KubeRay made for it along.
    assert gone == EXPIRED_ORPHANS | {"rayclusters/team-a/old-job-x7k2p"}
    # A second sweep finds nothing more to do.
    assert sweep(client).deleted == []


def test_a_running_task_keeps_its_expired_objects(world: tuple[LocalKubeRay, KubeClient]) -> None:
    _kr, client = world

    class Airflow:
        description = "a test double of Airflow's answers"

        def state(self, identity: TaskIdentity) -> str:
            return "running" if identity.run_id == "scheduled__old-job" else ABSENT

    report = sweep(client, states=Airflow())
    assert "RayJob/team-a/old-job" not in report.deleted
    assert set(report.deleted) == {"RayCluster/team-a/old-cluster", "RayJob/team-b/old-job-b"}
    assert any("old-job: " in line and "but its task instance is running" in line for line in report.lines())


def test_a_namespace_outside_the_allow_list_is_refused(world: tuple[LocalKubeRay, KubeClient]) -> None:
    from airflow_ray_k8s.exceptions import RayK8sError

    kr, client = world
    with pytest.raises(RayK8sError, match="team-c"):
        sweep(client, namespaces=["team-c"])
    assert "rayjobs/team-c/old-job-c" in _names(kr)


def test_the_cli_dry_run_prints_the_verdicts(
    world: tuple[LocalKubeRay, KubeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    kr, _ = world
    before = _names(kr)
    args = ["--kubeconfig", str(kr.kubeconfig_path), "-n", "team-a", "-n", "team-b", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert _names(kr) == before
    assert out[-1].startswith("would delete 3 of 7 object(s) in team-a, team-b")
    assert main(args[:-1]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("deleted 3 of 7 object(s)")
    assert not (_names(kr) & EXPIRED_ORPHANS)


def test_the_cli_asks_airflow_when_given_its_url(
    world: tuple[LocalKubeRay, KubeClient], capsys: pytest.CaptureFixture[str]
) -> None:
    kr, _ = world
    before = _names(kr)
    # Nothing listens there: Airflow cannot be asked, so the annotation decides (and says so).
    args = [
        "--kubeconfig",
        str(kr.kubeconfig_path),
        "-n",
        "team-a",
        "--dry-run",
        "--airflow-api-url",
        "http://127.0.0.1:9",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Airflow not asked, the annotation decides" in out
    assert out.splitlines()[-1].endswith("(task states from Airflow's REST API)")
    assert _names(kr) == before


def test_selector_is_the_managed_by_label() -> None:
    from airflow_ray_k8s.sweep.run import SELECTOR

    assert f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}" == SELECTOR
    assert datetime.now(timezone.utc) > PAST
