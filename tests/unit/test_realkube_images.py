"""The node agent's images (:mod:`airflow_ray_k8s.testing.realkube.images`, ``imagecache``) and how a
container's command and user are made from its spec: pure functions, no control plane."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from airflow_ray_k8s.testing.realkube.containers import EnvError, command_line, run_as_prefix
from airflow_ray_k8s.testing.realkube.imagecache import ImageCache, Pull, go_duration
from airflow_ray_k8s.testing.realkube.images import PAUSE_COMMAND, PAUSE_UID, ImagePolicy

RAY = "rayproject/ray:2.60.0-py311"
PAUSE = "registry.k8s.io/pause:3.10"


def test_without_a_pull_time_every_image_is_present() -> None:
    cache = ImageCache()
    assert cache.present(RAY)
    assert asyncio.run(cache.pull(RAY)).pulled is False
    assert cache.held() == frozenset()


def test_concurrent_pulls_of_one_image_share_one_pull_and_forget_makes_the_node_cold() -> None:
    cache = ImageCache(pull_seconds=0.3)
    assert not cache.present(RAY)
    assert cache.present(PAUSE)  # the runtime's sandbox image: never pulled

    async def scenario() -> list[Pull]:
        first = asyncio.create_task(cache.pull(RAY))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(cache.pull(RAY))
        pulls = await asyncio.gather(first, second)
        return [*pulls, await cache.pull(RAY)]

    first, second, after = asyncio.run(scenario())
    assert first.pulled
    assert second.pulled
    assert first.seconds >= 0.3
    # Joined 0.1 s into the first pull: a pull of its own would have waited the full 0.3 s.
    assert second.waited < 0.3
    assert second.seconds <= second.waited
    assert after.pulled is False
    assert cache.held() == {RAY}
    cache.forget()
    assert not cache.present(RAY)


def test_a_negative_pull_time_is_refused() -> None:
    with pytest.raises(ValueError, match="image_pull_seconds"):
        ImageCache(pull_seconds=-1)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0123, "12ms"), (20.0, "20s"), (20.0126, "20.013s"), (65.5, "1m5.5s")]
)
def test_durations_read_as_go_writes_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_the_pause_image_runs_its_own_entrypoint_with_the_args_as_cmd() -> None:
    policy = ImagePolicy()
    assert policy.available(PAUSE)
    assert not policy.available("registry.k8s.io/etcd:3.5")
    entry = policy.entrypoint(PAUSE)
    assert entry == PAUSE_COMMAND
    assert command_line({}, {}, entry) == list(PAUSE_COMMAND)
    assert command_line({"command": ["sh", "-c", "true"]}, {}, entry) == ["sh", "-c", "true"]
    assert policy.entrypoint(RAY) is None
    assert command_line({}, {}, None) == ["bash"]
    assert command_line({"args": ["ray", "start"]}, {}, None) == ["ray", "start"]


def test_the_security_context_becomes_setpriv_options() -> None:
    container = {"securityContext": {"runAsUser": 1234, "allowPrivilegeEscalation": False}}
    assert run_as_prefix({"securityContext": {"runAsGroup": 7}}, container, PAUSE_UID) == [
        "setpriv",
        "--reuid=1234",
        "--regid=7",
        "--clear-groups",
        "--no-new-privs",
    ]
    assert run_as_prefix({}, {}, PAUSE_UID)[1:3] == ["--reuid=65535", "--regid=65535"]
    with pytest.raises(EnvError, match="runAsNonRoot"):
        run_as_prefix({}, {"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, PAUSE_UID)


@pytest.mark.skipif(
    shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs setpriv, run as root (as the agent)"
)
def test_the_setpriv_prefix_really_runs_the_process_as_that_user() -> None:
    context = {"runAsUser": 65535, "allowPrivilegeEscalation": False}
    prefix = run_as_prefix({}, {"securityContext": context}, 0)
    out = subprocess.run(
        [*prefix, "sh", "-c", "id -u; id -g; grep NoNewPrivs /proc/self/status"],
        capture_output=True,
        text=True,
        check=True,
    )
    uid, gid, nnp = out.stdout.split("\n")[:3]
    assert (uid, gid) == ("65535", "65535")
    assert nnp.split() == ["NoNewPrivs:", "1"]
