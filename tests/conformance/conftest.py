"""The differential conformance suite: the same requests and lifecycles on the local KubeRay and on
the real control plane (kube-apiserver, etcd, the KubeRay operator), compared as a client sees them.

Every check observes both backends through the same plain HTTP client (the provider's identity on
each: its kubeconfig), reduces what it saw to the fields a client relies on, and compares. A
difference is either a bug of the local KubeRay (fixed there) or listed in
:data:`tests.conformance.differences.KNOWN` with the reason it stays (and in docs/conformance.md);
a listed difference that disappears fails too, so the table never lies.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conformance.differences import KNOWN

REPORT_ENV = "CONFORMANCE_REPORT"


class Backend:
    """One backend as a client sees it: the server URL and credentials of a kubeconfig.

    :param name: ``local`` or ``real``.
    :param kr: the ``LocalKubeRay`` or ``RealKubeRay``.
    """

    def __init__(self, name: str, kr: Any) -> None:
        self.name = name
        self.kr = kr
        config = yaml.safe_load(Path(kr.kubeconfig_path).read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        verify: Any = True
        if "certificate-authority-data" in cluster:
            verify = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
        self.http = httpx.Client(
            base_url=cluster["server"],
            headers={"Authorization": f"Bearer {user['token']}", "Accept": "application/json"},
            verify=verify,
            timeout=httpx.Timeout(30.0),
        )

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """One request; a dict body goes as JSON unless ``content`` is given."""
        if body is not None:
            kwargs.setdefault("content", json.dumps(body).encode())
            kwargs.setdefault("headers", {}).setdefault("Content-Type", "application/json")
        return self.http.request(method, path, **kwargs)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()


class Observations:
    """What each check saw on each backend, for the report and the closing note."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def compare(self, check: str, seen: dict[str, Any]) -> None:
        """Record ``{"local": ..., "real": ...}`` for ``check`` and assert it agrees with the table:
        equal unless ``check`` is a known difference, different (as listed) if it is."""
        self.items[check] = seen
        local, real = seen["local"], seen["real"]
        if check in KNOWN:
            assert local != real, (
                f"{check}: the local KubeRay now behaves as the real one ({real!r}); "
                "remove it from tests/conformance/differences.py and docs/conformance.md"
            )
        else:
            assert local == real, (
                f"{check}: the local KubeRay differs from the real one:\n local={local!r}\n  real={real!r}"
            )

    def record(self, check: str, seen: dict[str, Any]) -> None:
        """Record without comparing: timings, which the shared machine makes noisy (report only)."""
        self.items[check] = seen

    def compare_fields(self, check: str, seen: dict[str, dict[str, Any]]) -> None:
        """:meth:`compare` per field of a lifecycle's observation (``<check>.<field>``), so the
        table names each differing field and the others still have to agree; fails at the end
        with every disagreement at once."""
        errors = []
        for field in sorted(set(seen["local"]) | set(seen["real"])):
            try:
                self.compare(f"{check}.{field}", {name: obs.get(field) for name, obs in seen.items()})
            except AssertionError as exc:
                errors.append(str(exc))
        assert not errors, "\n".join(errors)


@pytest.fixture(scope="session")
def observations() -> Iterator[Observations]:
    """The session's observations, written to ``$CONFORMANCE_REPORT`` (JSON) at the end if set."""
    obs = Observations()
    yield obs
    target = os.environ.get(REPORT_ENV)
    if target and obs.items:
        path = Path(target)
        previous = json.loads(path.read_text()) if path.is_file() else {}
        previous.update(obs.items)
        path.write_text(json.dumps(previous, indent=2, sort_keys=True, default=str))


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local KubeRay with real Ray heads, for the session (its own folder and Ray processes)."""
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
    from airflow_ray_k8s.testing.pytest_plugin import surviving_ray_groups

    workdir = tmp_path_factory.mktemp("local-kuberay")
    kr = LocalKubeRay("ray", workdir=workdir)
    kr.start()
    try:
        yield kr
    finally:
        kr.stop()
    assert not surviving_ray_groups(workdir), "a Ray head of the local KubeRay survived"


@pytest.fixture(scope="session")
def backends(local_backend: Any, real_kuberay: Any) -> Iterator[dict[str, Backend]]:
    """``{"local": Backend, "real": Backend}``."""
    pair = {"local": Backend("local", local_backend), "real": Backend("real", real_kuberay)}
    yield pair
    for backend in pair.values():
        backend.close()
