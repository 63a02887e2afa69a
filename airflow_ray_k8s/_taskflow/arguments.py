"""The arguments of a ``@task.ray`` call, as they travel to the Ray cluster.

JSON by default: what JSON cannot hold fails the task before anything is submitted, naming the
argument, where in it, and its type. ``serializer="pickle"`` is the declared opt-in for other
values (the Airflow worker pickles its own task's arguments; the Ray image needs the same classes
and a compatible Python). Return values always come back as JSON: the worker never unpickles what a
cluster wrote.

Parameters named like Airflow context keys (``ds``, ``run_id``, ``params``...) and not given are
filled from the task's context, when the value is JSON (a string, number, bool or the params dict).
"""

from __future__ import annotations

import base64
import inspect
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_ray_k8s.results import ResultError, dumps

SERIALIZERS = ("json", "pickle")


class ArgumentError(ValueError):
    """An argument cannot travel to the Ray cluster; the message names it."""


def _context_value(fn_name: str, key: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if key == "params" and isinstance(value, Mapping):
        dump = getattr(value, "dump", None)
        return dict(dump() if callable(dump) else value)
    raise ArgumentError(
        f"{fn_name}() takes the context key {key!r}, a {type(value).__name__} that cannot travel to the "
        f"Ray cluster as JSON: pass what it needs as an argument instead, e.g. {key}_str='{{{{ {key} }}}}'"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray, list, tuple)):
        return list(value)
    return value


def call_arguments(
    fn: Callable[..., Any], op_args: Sequence[Any], op_kwargs: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments: the rendered ``op_args`` / ``op_kwargs``, plus context keys it asks for."""
    from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS

    signature = inspect.signature(fn)
    given = signature.bind_partial(*op_args, **op_kwargs).arguments
    # The output of a mapped task arrives as a lazy sequence of XComs: the function gets a list.
    op_args = [_plain(value) for value in op_args]
    kwargs = {name: _plain(value) for name, value in op_kwargs.items()}
    for name, param in signature.parameters.items():
        named = param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        if name in given or name not in KNOWN_CONTEXT_KEYS or not named:
            continue
        kwargs[name] = _context_value(fn.__name__, name, context.get(name))
    return list(op_args), kwargs


def _names(fn: Callable[..., Any], args: Sequence[Any]) -> list[str]:
    positional = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    extra = len(positional)
    return [positional[i] if i < extra else f"*args[{i - extra}]" for i in range(len(args))]


def encode(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], serializer: str = "json"
) -> dict[str, Any]:
    """The ``arguments`` part of the bundle (see ``runner.py``).

    :raises ArgumentError: with JSON, an argument JSON cannot hold; with pickle, one pickle cannot.
    """
    if serializer == "pickle":
        try:
            data = pickle.dumps([list(args), dict(kwargs)], protocol=4)  # Python >= 3.4 on the image
        except Exception as exc:
            raise ArgumentError(f"the arguments of {fn.__name__}() cannot be pickled: {exc}") from None
        return {"serializer": "pickle", "data": base64.b64encode(data).decode("ascii")}
    named = list(zip(_names(fn, args), args, strict=True)) + list(kwargs.items())
    for name, value in named:
        try:
            dumps(value, f"argument {name!r} of {fn.__name__}()")
        except ResultError as exc:
            raise ArgumentError(f"{exc}; or declare serializer='pickle' on @task.ray") from None
    return {"serializer": "json", "data": [list(args), dict(kwargs)]}
