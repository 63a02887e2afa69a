"""The result-record protocol (``airflow_ray_k8s.results``): both ends, and what the task log shows."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ray_k8s import results
from airflow_ray_k8s._lifecycle import returns
from airflow_ray_k8s.status import RayJobStatus

RESULTS_PY = Path(results.__file__)


def test_publish_prints_one_line_that_parse_reads_back() -> None:
    out = io.StringIO()
    results.publish({"rows": 3, "uri": "s3://b/k", "nested": {"a": [1, 2.5, None, True]}}, file=out)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert text.startswith(results.MARKER + " ")
    assert results.parse(text).results == {
        "rows": 3,
        "uri": "s3://b/k",
        "nested": {"a": [1, 2.5, None, True]},
    }


def test_records_are_found_anywhere_merged_in_order_and_only_at_line_start() -> None:
    early = results.encode("results", {"a": 1, "b": 1})
    late = results.encode("results", {"b": 2})
    lines = [early, *(f"noise {i}" for i in range(5000)), f"echo: {late}", late, "the end"]
    found = results.parse("\n".join(lines))
    assert found.results == {"a": 1, "b": 2}
    assert found.records == 2, "a record quoted inside a line is not a record"
    assert not found.returned


def test_a_corrupt_record_is_reported_not_misread() -> None:
    cut = results.encode("return", {"x": 1})[:-3]
    found = results.parse(f"{cut}\n")
    assert not found.returned
    assert found.problems == ["line 1: a result record that is not valid JSON (cut short?)"]


@pytest.mark.parametrize(
    ("value", "path", "kind"),
    [
        ({"when": __import__("datetime").date(2026, 1, 1)}, "value['when']", "datetime.date"),
        ([1, {"k": object()}], "value[1]['k']", "object"),
        ({(1, 2): "tuple key"}, "value key (1, 2)", "tuple"),
    ],
)
def test_what_json_cannot_hold_is_named_by_path_and_type(value: object, path: str, kind: str) -> None:
    with pytest.raises(results.ResultError) as err:
        results.encode("return", value)
    assert str(err.value).startswith(f"{path} is of type {kind}, which JSON cannot hold")


def test_cycles_and_sizes_are_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(results.ResultError, match="a reference cycle"):
        results.encode("return", loop)
    with pytest.raises(results.ResultError, match=f"over the limit of {results.MAX_RESULT_BYTES}"):
        results.publish({"blob": "x" * results.MAX_RESULT_BYTES})
    with pytest.raises(results.ResultError, match="takes a dict"):
        results.publish([1, 2])  # type: ignore[arg-type]


def test_the_module_runs_on_python_3_8_syntax_and_the_standard_library_alone() -> None:
    """It is shipped into Ray images: compile it for 3.8 and import it with no site-packages."""
    import ast

    ast.parse(RESULTS_PY.read_text(), feature_version=(3, 8))
    runner = RESULTS_PY.parent / "_taskflow" / "runner.py"
    ast.parse(runner.read_text(), feature_version=(3, 8))
    code = (
        "import importlib.util, sys, io;"
        f"spec = importlib.util.spec_from_file_location('r', {str(RESULTS_PY)!r});"
        "m = importlib.util.module_from_spec(spec); sys.modules['r'] = m; spec.loader.exec_module(m);"
        "m.publish({'ok': 1});"
        "print(sorted(n for n in sys.modules"
        " if n.split('.')[0] not in sys.stdlib_module_names and n != '__main__'))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "['r']"


def _status(job_id: str = "raysubmit_1", job_status: str = "SUCCEEDED") -> RayJobStatus:
    deployment = "Complete" if job_status == "SUCCEEDED" else "Failed"
    return RayJobStatus.from_object(
        {
            "metadata": {"name": "j", "namespace": "ray"},
            "status": {"jobId": job_id, "jobStatus": job_status, "jobDeploymentStatus": deployment},
        }
    )


def test_a_success_is_kept_on_the_rayjob_and_read_back_for_the_same_ray_job_only() -> None:
    text = results.encode("results", {"m": 1}) + "\n" + results.encode("return", [1, 2]) + "\n"
    collected = returns.from_log(text, "raysubmit_1")
    assert returns.worth_keeping(_status(), collected)
    assert not returns.worth_keeping(_status(job_status="FAILED"), collected)
    patch = returns.annotation_patch(collected)
    assert patch is not None
    obj = {"metadata": {"annotations": patch["metadata"]["annotations"]}}
    kept = returns.from_annotations(obj, "raysubmit_1")
    assert kept is not None
    assert (kept.results, kept.returned, kept.value, kept.origin) == ({"m": 1}, True, [1, 2], "annotation")
    assert returns.from_annotations(obj, "raysubmit_2") is None, "KubeRay's retry ran another Ray job"
    assert returns.Collected.from_json(json.loads(json.dumps(collected.to_json()))) == collected


def test_what_is_too_large_for_an_annotation_is_not_kept() -> None:
    big = returns.Collected(
        available=True, job_id="j", value="x" * returns.MAX_ANNOTATION_BYTES, returned=True
    )
    assert returns.annotation_patch(big) is None


def test_the_task_log_shows_records_and_long_entrypoint_echoes_in_short() -> None:
    record = results.encode("return", {"x": "y" * 1000})
    assert returns.for_task_log(record) == f"[return record, {len(record)} bytes: read when the job ends]"
    echo = "Running entrypoint for job raysubmit_1: python -c " + "A" * 9000
    shown = returns.for_task_log(echo)
    assert len(shown) < 400
    assert shown.endswith(f"[{len(echo) - returns.MAX_SHOWN_CHARS} more characters]")
    long_line = "z" * 5000
    assert returns.for_task_log(long_line) == long_line, "the program's own lines are shown whole"
