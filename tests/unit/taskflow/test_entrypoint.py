"""The entrypoint a @task.ray task submits, run here as Ray's job supervisor runs it (``sh -c``).

No Ray needed: the runner itself imports nothing but the standard library, so running the real
entrypoint with this machine's Python shows what the cluster would print. ``K8sJobMode`` is
followed to the letter: KubeRay splices the entrypoint into the submitter's ``bash -c`` line,
``ray job submit`` re-joins its arguments with ``subprocess.list2cmdline``, then ``sh -c`` runs it.
"""

from __future__ import annotations

import shlex
import string
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from airflow_ray_k8s import results
from airflow_ray_k8s._taskflow import arguments, entrypoint
from airflow_ray_k8s._taskflow.source import function_source
from tests.unit.taskflow import functions as f

# -I -S: no site-packages, no PYTHONPATH: a Ray image where the provider is not installed.
BARE_PYTHON = f"{sys.executable} -I -S"


def _entrypoint(fn: Callable[..., Any], *args: Any, serializer: str = "json", **kwargs: Any) -> str:
    encoded = arguments.encode(fn, list(args), kwargs, serializer)
    return entrypoint.build(function_source(fn), encoded, task="dag.task", python=BARE_PYTHON)


def _run(command: str, *, k8s_job_mode: bool = True) -> subprocess.CompletedProcess[str]:
    if k8s_job_mode:
        command = subprocess.list2cmdline(shlex.split(command))
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("k8s_job_mode", [True, False], ids=["K8sJobMode", "HTTPMode"])
def test_the_return_value_comes_back_as_a_record(k8s_job_mode: bool) -> None:
    done = _run(_entrypoint(f.add.function, 2, b=7, ds="2026-11-03"), k8s_job_mode=k8s_job_mode)
    assert done.returncode == 0, done.stderr
    found = results.parse(done.stdout)
    assert found.returned
    assert found.value == {"sum": 9, "sqrt": 3.0, "ds": "2026-11-03"}
    assert "[airflow-ray-k8s] running add() of task dag.task" in done.stdout


def test_an_exception_gives_an_error_record_with_the_dag_files_frames() -> None:
    done = _run(_entrypoint(f.nested_failure.function, -1))
    assert done.returncode == 1
    found = results.parse(done.stdout)
    assert not found.returned
    assert found.error is not None
    assert found.error["type"] == "ValueError"
    assert found.error["message"] == "n must be positive, got -1"
    assert found.error["where"] == "nested_failure()"
    frames = "\n".join(found.error["traceback"])
    assert f'File "{f.__file__}"' in frames, "frames name the DAG file"
    assert "in deeper" in frames
    assert 'raise ValueError(f"n must be positive, got {v}")' in frames, "with the source line"
    assert "airflow_ray_k8s_runner" not in frames, "the runner's own frame is left out"
    assert "ValueError: n must be positive" in done.stderr, "the traceback is in the driver log too"


def test_a_return_value_json_cannot_hold_fails_naming_its_type() -> None:
    done = _run(_entrypoint(f.returns_a_set))
    assert done.returncode == 1
    error = results.parse(done.stdout).error
    assert error is not None
    assert error["type"] == "ReturnValueError"
    assert "the return value of returns_a_set()['ids'] is of type set" in error["message"]


def test_the_function_may_publish_without_the_provider_installed() -> None:
    done = _run(_entrypoint(f.publishes_then_returns, 500))
    assert done.returncode == 0, done.stderr
    found = results.parse(done.stdout)
    assert found.results == {"step": "done", "rows": 500}, "merged in order, a later key wins"
    assert found.value == 1000
    assert found.records == 3


def test_pickle_is_a_declared_opt_in() -> None:
    with pytest.raises(arguments.ArgumentError, match=r"argument 'b' of add\(\) is of type frozenset"):
        _entrypoint(f.add.function, 1, b=frozenset({1}))
    done = _run(_entrypoint(f.takes_context, (1, 2), serializer="pickle", ds=None))
    assert done.returncode == 0, done.stderr
    assert results.parse(done.stdout).value == [[1, 2], None, None]


def test_the_same_call_gives_the_same_entrypoint() -> None:
    """A re-attach rebuilds the RayJob: its spec (the entrypoint) must be identical."""
    assert _entrypoint(f.add.function, 1) == _entrypoint(f.add.function, 1)
    bundle = entrypoint.decode(_entrypoint(f.add.function, 1, b=3))
    assert bundle["arguments"] == {"serializer": "json", "data": [[1], {"b": 3}]}
    assert bundle["function"]["name"] == "add"


def test_the_decoder_needs_no_quoting_anywhere() -> None:
    command = _entrypoint(f.add.function, 1)
    code = command.split(" -c ", 1)[1]
    assert code.startswith('"')
    assert code.endswith('"')
    allowed = set(string.ascii_letters + string.digits + " _.,;=()[]'+/")
    assert set(code[1:-1]) <= allowed


def test_a_too_large_call_fails_before_submission_naming_the_limit_and_the_way_out() -> None:
    import os

    noise = os.urandom(120_000).hex()  # does not compress
    with pytest.raises(entrypoint.EntrypointTooLargeError) as err:
        _entrypoint(f.add.function, 1, ds=noise)
    message = str(err.value)
    assert f"over the limit of {entrypoint.MAX_ENTRYPOINT_BYTES}" in message
    assert "working_dir / py_modules" in message
    assert "its arguments 240" in message
