"""Results a Ray program hands back to Airflow, through its driver log (standard library only).

Inside a Ray job's driver (the entrypoint's own process, not a ``@ray.remote`` task)::

    from airflow_ray_k8s.results import publish

    publish({"rows": 1000, "model_uri": "s3://bucket/models/2026-11-03"})

Each call prints one line to the driver's stdout; the provider reads the driver log through the Ray
dashboard when the job ends, merges the published dicts in order (a later key wins) and hands them
to the task: ``RayJobOperator`` pushes them as the XCom ``results``, ``@task.ray`` returns its
function's value. The provider records what it read on the RayJob, so a retry that re-attaches, a
restarted triggerer or a task that adopts a finished job gets the same results after KubeRay has
deleted the cluster and its logs.

The line is the protocol (version 1, stable), so a program that cannot import this module (a Ray
image without the provider) may print it itself, one line, at the start of a line::

    ##airflow-ray-k8s:result:v1 {"kind": "results", "data": {"rows": 1000}}

``kind`` is ``results`` (a dict, merged), ``return`` (a ``@task.ray`` function's value) or
``error`` (the exception a ``@task.ray`` function raised). The JSON holds no newline
(``ensure_ascii``), and a record is at most :data:`MAX_RESULT_BYTES` bytes of JSON.

This module is also shipped, as source, inside every ``@task.ray`` entrypoint, and runs on the
Ray image's Python: it uses nothing newer than Python 3.8 and nothing outside the standard library.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

#: What starts every record line.
MARKER = "##airflow-ray-k8s:result:v1"
#: Largest record (its JSON data, UTF-8 bytes), and largest merged results: they travel in a trigger
#: event, an XCom and a RayJob annotation (Kubernetes allows 256 KiB of annotations in all). Large
#: outputs belong in storage (S3, GCS, a volume); publish their URI.
MAX_RESULT_BYTES = 64 * 1024
KINDS = ("results", "return", "error")


class ResultError(ValueError):
    """A value cannot be published: not JSON, or too large. The message names the value and the rule."""


def not_json(value: Any, where: str = "value") -> tuple[str, str] | None:
    """The first part of ``value`` that JSON cannot hold, as ``(path, type name)``; ``None`` if all can.

    JSON holds dicts with string (or number, bool, None: converted) keys, lists and tuples, strings,
    numbers, booleans and None. ``numpy.float64`` is a float and passes; ``numpy.int64`` is not an int.
    """
    seen: set[int] = set()

    def walk(item: Any, path: str) -> tuple[str, str] | None:
        if item is None or isinstance(item, (str, int, float, bool)):
            return None
        if isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                return path, "a reference cycle"
            seen.add(id(item))
            if isinstance(item, dict):
                for key, child in item.items():
                    if not (key is None or isinstance(key, (str, int, float, bool))):
                        return f"{path} key {key!r}", _type_name(key)
                    found = walk(child, f"{path}[{key!r}]")
                    if found:
                        return found
            else:
                for index, child in enumerate(item):
                    found = walk(child, f"{path}[{index}]")
                    if found:
                        return found
            seen.discard(id(item))
            return None
        return path, _type_name(item)

    return walk(value, where)


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def dumps(value: Any, where: str = "value") -> str:
    """``value`` as compact one-line JSON.

    :raises ResultError: a part is not JSON (the message names its path and type).
    """
    problem = not_json(value, where)
    if problem is not None:
        path, kind = problem
        raise ResultError(
            f"{path} is {'' if kind.startswith('a ') else 'of type '}{kind}, which JSON cannot hold "
            "(only dicts, lists, strings, numbers, booleans and None): convert it (array.tolist(), "
            "str(path), dt.isoformat()...) or write it to storage and pass its URI"
        )
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def encode(kind: str, data: Any, where: str = "value") -> str:
    """One record line (without newline).

    :raises ResultError: ``data`` is not JSON or its JSON is over :data:`MAX_RESULT_BYTES`.
    """
    if kind not in KINDS:
        raise ResultError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    text = dumps(data, where)
    if len(text) > MAX_RESULT_BYTES:  # ensure_ascii: characters are bytes
        raise ResultError(
            f"{where} is {len(text)} bytes as JSON, over the limit of {MAX_RESULT_BYTES}: "
            "write large outputs to storage (S3, GCS, a volume) and pass their URI instead"
        )
    return f'{MARKER} {{"kind":"{kind}","data":{text}}}'


def publish(results: Mapping[str, Any], *, file: TextIO | None = None) -> None:
    """Hand ``results`` back to the Airflow task that runs this Ray job (see the module docstring).

    Call it in the driver, as often as you like: the dicts are merged in order.

    :param results: a dict of JSON values.
    :param file: where to print (default ``sys.stdout``, which Ray writes to the driver log).
    :raises ResultError: ``results`` is not a dict of JSON values, or is too large.
    """
    if not isinstance(results, Mapping):
        raise ResultError(f"publish() takes a dict, not {_type_name(results)}")
    line = encode("results", dict(results), "results")
    out = file if file is not None else sys.stdout
    # One write, then flush: the line reaches the log whole, before anything printed later.
    out.write(line + "\n")
    out.flush()


@dataclass
class Published:
    """What a driver log says: the merged ``results``, the ``return`` record, the ``error`` record.

    :param results: the published dicts, merged in order.
    :param returned: whether a ``return`` record was found (its value may be ``None``).
    :param value: the ``return`` record's data.
    :param error: the ``error`` record's data (``type``, ``message``, ``traceback``, ``where``).
    :param problems: records that could not be read (corrupt or too large), one line each.
    :param records: how many records were read.
    """

    results: dict[str, Any] = field(default_factory=dict)
    returned: bool = False
    value: Any = None
    error: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    records: int = 0


def parse(text: str) -> Published:
    """Read every record of a driver log (anywhere in it: not only in the tail)."""
    out = Published()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(MARKER):
            continue
        body = line[len(MARKER) :].strip()
        try:
            record = json.loads(body)
            kind, data = record["kind"], record["data"]
        except (ValueError, TypeError, KeyError):
            out.problems.append(f"line {number}: a result record that is not valid JSON (cut short?)")
            continue
        if len(body) > MAX_RESULT_BYTES + 64:
            out.problems.append(f"line {number}: a {kind} record of {len(body)} bytes, over the limit")
            continue
        out.records += 1
        if kind == "results" and isinstance(data, dict):
            out.results.update(data)
        elif kind == "return":
            out.returned, out.value = True, data
        elif kind == "error" and isinstance(data, dict):
            out.error = data
        else:
            out.problems.append(f"line {number}: an unknown result record {kind!r}")
    if len(json.dumps(out.results, separators=(",", ":"))) > MAX_RESULT_BYTES:
        out.problems.append(f"the published results add up to more than {MAX_RESULT_BYTES} bytes of JSON")
    return out
