"""The pytest plugin as a user's project sees it: loaded from the ``pytest11`` entry point in a
separate pytest run, fixtures set the connection for the test only, marker options reach the
controller, and a failing test still gets its emulator torn down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_TESTS = """
import os

import pytest


@pytest.mark.local_kuberay(scripted_job_duration=0.1, max_heads=1)
def test_fixture_sets_the_connection_and_options(local_kuberay_scripted):
    assert "AIRFLOW_CONN_KUBERAY_DEFAULT" in os.environ
    controller = local_kuberay_scripted.controller
    assert controller.mode == "scripted"
    assert controller.options.scripted_job_duration == 0.1
    assert controller.options.max_heads == 1


def test_a_failing_test(local_kuberay_scripted):
    raise RuntimeError("boom")


def test_connection_is_gone_after_the_fixture():
    assert "AIRFLOW_CONN_KUBERAY_DEFAULT" not in os.environ
"""


def test_plugin_fixtures_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "test_user_dag.py").write_text(USER_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_KUBERAY_DEFAULT"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "RuntimeError: boom" in result.stdout
