"""Ray head process management without starting Ray: ports, command line, pgid records, reaping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_ray_k8s.testing.emulator import rayproc
from airflow_ray_k8s.testing.emulator.headpool import head_cpus
from airflow_ray_k8s.testing.emulator.rayproc import HeadPorts, PortAllocator, RayHead


def test_ports_are_distinct_between_heads_and_outside_the_default_worker_range() -> None:
    allocator = PortAllocator()
    first, second = HeadPorts.allocate(allocator), HeadPorts.allocate(allocator)
    singles = first.singles() + second.singles()
    assert len(set(singles)) == len(singles)
    assert all(p not in range(10002, 20000) for p in singles)
    assert first.max_worker - first.min_worker == 99
    assert not set(range(first.min_worker, first.max_worker + 1)) & set(
        range(second.min_worker, second.max_worker + 1)
    )
    assert not set(singles) & set(range(first.min_worker, first.max_worker + 1))


def test_command_isolates_the_head_on_loopback() -> None:
    head = RayHead("ns/c", HeadPorts.allocate(PortAllocator()), num_cpus=2)
    command = head.command()
    assert command[1:4] == ["start", "--head", "--block"]
    for flag in (
        "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={head.ports.dashboard}",
        f"--port={head.ports.gcs}",
        f"--ray-client-server-port={head.ports.client}",
        f"--dashboard-agent-listen-port={head.ports.agent_listen}",
        f"--min-worker-port={head.ports.min_worker}",
        f"--max-worker-port={head.ports.max_worker}",
        "--num-cpus=2",
        f"--temp-dir={head.temp_dir}",
    ):
        assert flag in command
    # Ray's unix socket paths (<temp-dir>/session_<date>_<pid>/sockets/plasma_store) must stay < 107.
    assert (
        len(str(head.temp_dir)) + len("/session_2026-11-23_17-51-51_669588_123456/sockets/plasma_store") < 107
    )
    env = head.environment()
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert "RAY_ADDRESS" not in env


@pytest.mark.parametrize(
    ("head_group", "expected"),
    [
        ({"rayStartParams": {"num-cpus": "3"}}, 2),
        ({"rayStartParams": {"num-cpus": "0.5"}}, 1),
        ({"template": {"spec": {"containers": [{"resources": {"limits": {"cpu": "1500m"}}}]}}}, 2),
        ({"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}}, 1),
        ({}, 1),
    ],
)
def test_head_cpus_follow_the_spec_within_the_ceiling(head_group: dict[str, object], expected: int) -> None:
    assert head_cpus({"headGroupSpec": head_group}, default=1, ceiling=2) == expected


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reap_leftovers_kills_only_groups_of_dead_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ark"
    root.mkdir()
    monkeypatch.setattr(rayproc, "runtime_root", lambda: root)
    orphan_dir, live_dir = root / "horphan", root / "hlive"
    orphan_dir.mkdir()
    live_dir.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    orphan = subprocess.Popen([*sleeper, str(orphan_dir)], start_new_session=True)
    alive = subprocess.Popen([*sleeper, str(live_dir)], start_new_session=True)
    try:
        (root / "horphan.pgid").write_text(f"{orphan.pid} {_dead_pid()} {orphan_dir}\n")
        (root / "hlive.pgid").write_text(f"{alive.pid} {os.getpid()} {live_dir}\n")
        # A record whose pgid now belongs to an unrelated process (pid reuse) must not be killed.
        stranger = subprocess.Popen(sleeper, start_new_session=True)
        (root / "hstranger.pgid").write_text(f"{stranger.pid} {_dead_pid()} {root / 'hstranger'}\n")
        assert rayproc.reap_leftovers() == [orphan.pid]
        orphan.wait(timeout=10)
        assert alive.poll() is None
        assert stranger.poll() is None
        assert not orphan_dir.exists()
        assert (root / "hlive.pgid").exists()
    finally:
        for proc in (alive, orphan):
            proc.kill()
            proc.wait()
        stranger.kill()
        stranger.wait()


def test_surviving_groups_reads_the_workdir_record(tmp_path: Path) -> None:
    temp_dir = tmp_path / "hsurvivor"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", str(temp_dir)], start_new_session=True
    )
    try:
        (tmp_path / "ray-pgids").write_text(f"{proc.pid} {os.getpid()} {temp_dir}\n")
        assert rayproc.surviving_groups(tmp_path) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while rayproc.surviving_groups(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rayproc.surviving_groups(tmp_path) == []


def test_stop_also_kills_a_jobs_driver_outside_the_heads_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray's job supervisor starts each driver in a session of its own: signalling the head's group
    alone left it running (seen with Ray 2.60). Only its environment names the head's temp dir."""
    monkeypatch.setattr(rayproc, "runtime_root", lambda: tmp_path)
    head = RayHead("ns/c", HeadPorts.allocate(PortAllocator()))
    head.temp_dir.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    head.process = subprocess.Popen([*sleeper, f"--temp-dir={head.temp_dir}"], start_new_session=True)
    env = {**os.environ, "RAY_SESSION_DIR": f"{head.temp_dir}/session_latest"}
    driver = subprocess.Popen(sleeper, start_new_session=True, env=env)
    try:
        (tmp_path / "ray-pgids").write_text(f"{head.pgid} {os.getpid()} {head.temp_dir}\n")
        assert head.driver_groups() == {driver.pid}
        asyncio.run(head.stop(grace=2))
        assert driver.wait(timeout=5) is not None
        assert head.process.poll() is not None
        assert rayproc.processes_naming(str(head.temp_dir)) == []
        assert rayproc.surviving_groups(tmp_path) == []
        assert not head.temp_dir.exists()
    finally:
        for proc in (head.process, driver):
            proc.kill()
            proc.wait()


def test_a_driver_outliving_its_heads_group_counts_as_a_survivor(tmp_path: Path) -> None:
    temp_dir = tmp_path / "hgone"
    env = {**os.environ, "RAY_SESSION_DIR": f"{temp_dir}/session_latest"}
    driver = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True, env=env
    )
    try:
        # The recorded group is long gone (a dead pid); the driver, in its own group, is not.
        gone = _dead_pid()
        (tmp_path / "ray-pgids").write_text(f"{gone} {os.getpid()} {temp_dir}\n")
        assert rayproc.surviving_groups(tmp_path) == [gone]
    finally:
        driver.kill()
        driver.wait()
    assert rayproc.surviving_groups(tmp_path) == []
