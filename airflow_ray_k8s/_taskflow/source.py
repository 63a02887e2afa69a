"""The source of a ``@task.ray`` function, without its task decorators, checked to run on its own.

Only the function's own source reaches the Ray cluster (as with ``@task.kubernetes``): what it uses
from the DAG file's module (an import at the top of the file, a constant, a helper function) or
from an enclosing function does not exist there. :func:`function_source` names such uses before
anything is submitted, instead of a ``NameError`` minutes later on the cluster.

The function's decorators are removed as lines (blanked, so line numbers stay those of the DAG
file). They all ran in the DAG file to make the Airflow task (``@task.ray``, a reused
``ray_on_cluster = task.ray(...)``, ``@setup``, ``@task.run_if``...), and any other would be a name of
the DAG file's module, which does not exist on the cluster: a function that needs a decorator on
the cluster applies it inside its body. (Airflow's ``@task.kubernetes`` keeps unknown decorators;
here that could only end in a ``NameError``.) Python's own ``ast`` and ``symtable`` do the work.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import symtable
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class FunctionSourceError(ValueError):
    """The function cannot be shipped to Ray as source; the message says why and what to do."""


@dataclass(frozen=True)
class FunctionSource:
    """A function's shippable source.

    :param name: the function's name (what the source defines).
    :param source: the dedented source, decorators blanked out.
    :param file: the DAG file it comes from (tracebacks on the cluster name it).
    :param line: the line of the DAG file where ``source`` starts.
    """

    name: str
    source: str
    file: str
    line: int


def function_source(fn: Callable[..., Any]) -> FunctionSource:
    """Read ``fn``'s source and check that it can run alone.

    :raises FunctionSourceError: no source, not a plain function, or it uses names it does not define.
    """
    name = getattr(fn, "__name__", "")
    if not inspect.isfunction(fn) or name == "<lambda>":
        raise FunctionSourceError(
            f"@task.ray needs a function defined with def, not {type(fn).__name__} {name!r}"
        )
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise FunctionSourceError(
            f"@task.ray cannot run {name}(): it is a coroutine or generator function; "
            "make it a plain function that returns its result"
        )
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as exc:
        raise FunctionSourceError(
            f"the source of {name}() is not available ({exc}): @task.ray ships the function's source, "
            "so define it in a DAG file"
        ) from None
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise FunctionSourceError(f"could not parse the source of {name}(): {exc}") from None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != name:
        raise FunctionSourceError(f"could not find the definition of {name}() in its source")
    kept = text.splitlines()
    for decorator in node.decorator_list:
        for index in range(decorator.lineno - 1, decorator.end_lineno or decorator.lineno):
            kept[index] = ""
    source = "\n".join(kept) + "\n"
    _check_names(fn, source)
    return FunctionSource(name=name, source=source, file=inspect.getsourcefile(fn) or "<dag>", line=first)


def _without_annotations(source: str) -> str:
    """``source`` with annotations dropped: they are never evaluated on the cluster (see runner.py)."""
    tree = ast.parse(source)

    class Strip(ast.NodeTransformer):
        def visit_arg(self, node: ast.arg) -> ast.arg:
            node.annotation = None
            return node

        def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
            node.returns = None
            self.generic_visit(node)
            return node

        def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
            # Still an assignment (a local name) without the annotation.
            value = node.value if node.value is not None else ast.Constant(None)
            return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    return ast.unparse(ast.fix_missing_locations(Strip().visit(tree)))


def _global_references(table: symtable.SymbolTable) -> set[str]:
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.is_global()}
    for child in table.get_children():
        names |= _global_references(child)
    return names


def _check_names(fn: Callable[..., Any], source: str) -> None:
    table = symtable.symtable(_without_annotations(source), "<task>", "exec")
    used = _global_references(table) - set(dir(builtins)) - {fn.__name__}
    code = fn.__code__
    from_module = sorted(n for n in used if n in fn.__globals__ and n not in code.co_freevars)
    from_closure = sorted(n for n in used if n in code.co_freevars)
    if not from_module and not from_closure:
        return
    parts = []
    if from_module:
        parts.append(f"{', '.join(from_module)} from the DAG file's module")
    if from_closure:
        parts.append(f"{', '.join(from_closure)} from the enclosing function")
    raise FunctionSourceError(
        f"{fn.__name__}() uses {' and '.join(parts)}: only the function's own source runs on the Ray "
        "cluster. Import modules inside the function, and pass values as arguments "
        "(code too large to inline goes in runtime_env working_dir / py_modules or the Ray image)"
    )
