"""What of a @task.ray function is shipped, and the names it may not take from the DAG file."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from airflow_ray_k8s._taskflow.source import FunctionSourceError, function_source
from tests.unit.taskflow import functions as f


def test_task_decorators_are_blanked_and_lines_keep_their_numbers() -> None:
    fn = f.nested_failure.function
    shipped = function_source(fn)
    assert shipped.name == "nested_failure"
    assert shipped.file == inspect.getsourcefile(fn)
    assert "@" not in shipped.source, "@setup and the multi-line @task.ray(...) are gone"
    _, first = inspect.getsourcelines(fn)
    assert shipped.line == first
    # Line i of the shipped source is line (first + i) of the DAG file.
    dag_lines = Path(shipped.file).read_text().splitlines()
    for i, line in enumerate(shipped.source.splitlines()):
        if line.strip():
            assert dag_lines[first - 1 + i].strip() == line.strip()
    compile(shipped.source, shipped.file, "exec")


def test_a_reused_decorator_is_removed_too() -> None:
    shipped = function_source(f.reused.function)
    assert "on_shared" not in shipped.source
    assert shipped.source.strip().startswith("def reused(")


def test_a_self_contained_function_passes_with_its_annotations_and_recursion() -> None:
    assert function_source(f.add.function).source.lstrip().startswith("def add(")
    function_source(f.recursive)  # calls itself by name: defined by the shipped source
    function_source(f.annotated)  # annotations are never evaluated on the cluster


def test_names_from_the_dag_files_module_are_named() -> None:
    with pytest.raises(FunctionSourceError, match=r"uses SCALE, json from the DAG file's module") as err:
        function_source(f.uses_module_names)
    assert "Import modules inside the function" in str(err.value)


def test_names_from_an_enclosing_function_are_named() -> None:
    with pytest.raises(FunctionSourceError, match=r"uses factor from the enclosing function"):
        function_source(f.make_closure())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda x: x, "defined with def"),
        (len, "defined with def"),
        (f.coroutine, "coroutine or generator"),
        (f.generator, "coroutine or generator"),
    ],
)
def test_what_cannot_be_shipped_fails_clearly(fn: object, match: str) -> None:
    with pytest.raises(FunctionSourceError, match=match):
        function_source(fn)  # type: ignore[arg-type]


def test_a_function_without_source_file_fails_clearly() -> None:
    namespace: dict[str, object] = {}
    exec("def made_up():\n    return 1\n", namespace)  # noqa: S102 -- no file behind it
    with pytest.raises(FunctionSourceError, match="source of made_up\\(\\) is not available"):
        function_source(namespace["made_up"])  # type: ignore[arg-type]
