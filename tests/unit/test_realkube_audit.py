"""The real control plane's audit log read as a request log (what "submitted once" counts there)."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_ray_k8s.testing.realkube.audit import AuditRequests, audit_policy


def _event(verb: str, uri: str) -> str:
    return json.dumps({"kind": "Event", "stage": "ResponseComplete", "verb": verb, "requestURI": uri})


def test_audit_events_count_like_the_local_request_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(
        "\n".join(
            [
                _event("create", "/apis/ray.io/v1/namespaces/default/rayjobs"),
                _event("watch", "/apis/ray.io/v1/namespaces/default/rayjobs?watch=true&resourceVersion=5"),
                _event("create", "/apis/ray.io/v1/namespaces/default/rayjobs?dryRun=All"),
                _event("delete", "/apis/ray.io/v1/namespaces/default/rayjobs/rj-1"),
            ]
        )
        + "\n"
    )
    requests = AuditRequests(log)
    assert requests.count("POST", r"/rayjobs$") == 2
    assert requests.count("GET", watch=True) == 1
    assert requests.count("DELETE", r"/rayjobs/rj-1$") == 1
    requests.clear()
    assert requests.count() == 0
    with open(log, "a") as handle:
        handle.write(_event("patch", "/apis/ray.io/v1/namespaces/default/rayjobs/rj-2") + "\n{partial")
    assert [r.method for r in requests.snapshot()] == ["PATCH"], "a line being written is skipped"


def test_the_policy_records_only_the_given_users() -> None:
    policy = json.loads(audit_policy(["system:serviceaccount:airflow:airflow-kuberay"]))
    assert policy["rules"][0] == {
        "level": "Metadata",
        "users": ["system:serviceaccount:airflow:airflow-kuberay"],
    }
    assert policy["rules"][-1] == {"level": "None"}
