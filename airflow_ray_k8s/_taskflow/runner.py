"""The program a ``@task.ray`` entrypoint runs on the Ray cluster (standard library, Python >= 3.8).

Shipped as source: the entrypoint decodes a bundle (JSON, zlib, base64; see ``entrypoint.py``) into
the global ``bundle`` and runs this file's source with it. Nothing of the provider needs to be
installed on the Ray image, and ``ray`` is not imported here (the function imports what it uses;
``ray.init()`` happens on first use, with the address Ray's job supervisor sets).

The bundle holds:

- ``results``: the source of ``airflow_ray_k8s/results.py``, the record protocol. It is loaded as a
  module, and also importable as ``airflow_ray_k8s.results`` when the provider is not installed,
  so the function may ``publish()`` intermediate results itself.
- ``function``: ``name``, ``source`` (decorators removed), ``file`` and ``line`` where it is
  defined in the DAG file: tracebacks point at the DAG file's lines.
- ``arguments``: ``serializer`` (``json`` or ``pickle``) and ``data`` (``[args, kwargs]``).
- ``task``: the Airflow task, for the log.

Prints the function's return value as a ``return`` record. If defining or calling the function
raises, prints the traceback and an ``error`` record and exits 1 (the Ray job fails, KubeRay says
``AppFailed``); a return value JSON cannot hold is such an error too.
"""

from __future__ import annotations
import __future__ as future

import base64
import builtins
import linecache
import pickle
import sys
import traceback
import types
from typing import Any

#: Lines of the formatted traceback kept in the error record (the last frames and the exception).
TRACEBACK_LINES = 40
MESSAGE_CHARS = 2000
_RESULTS_NAME = "airflow_ray_k8s.results"


def load_results(source: str) -> Any:
    """The record protocol, from its shipped source; also importable under its real name if needed."""
    module = types.ModuleType("_airflow_ray_k8s_results")
    module.__file__ = "airflow_ray_k8s/results.py (shipped)"
    # Registered before it runs: dataclasses look their module up in sys.modules.
    sys.modules[module.__name__] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 -- our own shipped module
    try:
        __import__(_RESULTS_NAME)
    except ImportError:  # the provider is not installed on this image: serve the shipped copy
        package = sys.modules.get("airflow_ray_k8s")
        if package is None:
            package = types.ModuleType("airflow_ray_k8s")
            package.__path__ = []
            sys.modules["airflow_ray_k8s"] = package
        sys.modules[_RESULTS_NAME] = module
        package.results = module  # type: ignore[attr-defined]
    return module


def define(spec: dict[str, Any]) -> Any:
    """Compile the function where the DAG file has it (same file name, same line numbers)."""
    filename = spec["file"]
    text = "\n" * (int(spec["line"]) - 1) + spec["source"]
    # Tracebacks read source lines from linecache; an entry without mtime is never invalidated.
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    # Annotations stay unevaluated: they may name types only the DAG file imports.
    flags = future.annotations.compiler_flag
    code = compile(text, filename, "exec", flags=flags, dont_inherit=True)
    # Its own namespace, named __main__: cloudpickle then ships nested remote functions by value.
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    exec(code, namespace)  # noqa: S102 -- the task's own function, shipped by its DAG
    return namespace[spec["name"]]


def arguments(spec: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments."""
    if spec["serializer"] == "pickle":
        # Opt-in (serializer="pickle"): bytes the Airflow worker wrote from the task's own arguments.
        args, kwargs = pickle.loads(base64.b64decode(spec["data"]))  # noqa: S301
    else:
        args, kwargs = spec["data"]
    return list(args), dict(kwargs)


def _emit(results: Any, kind: str, data: Any, where: str) -> None:
    sys.stdout.write(results.encode(kind, data, where) + "\n")
    sys.stdout.flush()


def _fail(results: Any, exc: BaseException, where: str) -> int:
    # Without this runner's own frame: the traceback starts in the user's code.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    sys.stdout.flush()
    traceback.print_exception(type(exc), exc, tb)
    sys.stderr.flush()
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).splitlines()
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    record = {
        "type": name,
        "message": str(exc)[:MESSAGE_CHARS],
        "traceback": [line[:500] for line in lines[-TRACEBACK_LINES:]],
        "where": where,
    }
    _emit(results, "error", record, "the error record")
    return 1


def run(bundle: dict[str, Any]) -> int:
    """Define the function, call it, print its return value as a record; the process's exit code."""
    results = load_results(bundle["results"])
    spec = bundle["function"]
    label = f"{spec['name']}()"
    print(f"[airflow-ray-k8s] running {label} of task {bundle.get('task', '?')}", flush=True)
    try:
        function = define(spec)
        args, kwargs = arguments(bundle["arguments"])
    except Exception as exc:
        return _fail(results, exc, f"defining {label} on the Ray cluster")
    try:
        value = function(*args, **kwargs)
    except Exception as exc:
        return _fail(results, exc, label)
    try:
        _emit(results, "return", value, f"the return value of {label}")
    except results.ResultError as exc:
        print(f"ERROR {exc}", file=sys.stderr, flush=True)
        record = {"type": "ReturnValueError", "message": str(exc), "traceback": [], "where": label}
        _emit(results, "error", record, "the error record")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(globals()["bundle"]))
