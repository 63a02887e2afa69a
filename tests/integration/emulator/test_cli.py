"""The one-command local KubeRay: starts in the foreground, prints the connection, stops on a signal."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client, config


def test_cli_serves_a_working_kuberay_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_ray_k8s.testing.emulator.cli",
            "--mode",
            "scripted",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"the CLI exited early: {''.join(lines)}"
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        kubeconfig = tmp_path / "kubeconfig"
        assert f"kubeconfig: {kubeconfig}" in output
        export = next(
            line.strip() for line in lines if line.strip().startswith("export AIRFLOW_CONN_KUBERAY_DEFAULT=")
        )
        conn = json.loads(shlex.split(export.removeprefix("export "))[0].split("=", 1)[1])
        assert conn["conn_type"] == "kuberay"
        assert os.stat(kubeconfig).st_mode & 0o077 == 0

        api = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {"name": "cli-job"},
            "spec": {
                "entrypoint": "python -c 'print(1)'",
                "rayClusterSpec": {
                    "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head"}]}}}
                },
            },
        }
        api.create_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", body)
        deadline = time.monotonic() + 20
        status: dict[str, str] = {}
        while time.monotonic() < deadline and status.get("jobDeploymentStatus") != "Complete":
            status = api.get_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", "cli-job").get(
                "status", {}
            )
            time.sleep(0.1)
        assert status.get("jobStatus") == "SUCCEEDED"

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "Stopped." in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
