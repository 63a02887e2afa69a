"""One shell command that runs a ``@task.ray`` function on the Ray cluster: the RayJob's entrypoint.

``python -c "<decoder>"`` where the decoder unpacks a bundle (the runner's source, the results
protocol's source, the function's source, its arguments: JSON, zlib, base64) and runs the runner.
Nothing is uploaded and nothing needs installing on the Ray image.

The quoting survives every path an entrypoint takes. In ``K8sJobMode`` KubeRay splices it, unquoted,
into the submitter's ``bash -c`` line (``ray job submit ... -- <entrypoint> ; fi``); ``ray job submit``
joins its arguments again with ``subprocess.list2cmdline``; Ray's job supervisor runs the result with
``sh -c``. The decoder holds only letters, digits, spaces and ``_.,;=()[]'`` (base64 adds ``+/=``),
so double quotes around it mean the same to ``bash``, to ``list2cmdline`` and to ``sh``.

Size: ``sh -c`` (and KubeRay's submitter ``bash -c``, which also carries the runtime env JSON) gets
the command as one argument, and Linux caps one argument at 128 KiB (``MAX_ARG_STRLEN``). Hence
:data:`MAX_ENTRYPOINT_BYTES`; larger code goes through ``runtime_env`` ``working_dir`` /
``py_modules`` or the Ray image, larger inputs through storage.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

from airflow_ray_k8s._taskflow.source import FunctionSource

#: Largest entrypoint: 96 KiB, leaving room under Linux's 128 KiB for KubeRay's submitter command.
MAX_ENTRYPOINT_BYTES = 96 * 1024
#: Decodes the bundle into the global ``bundle`` and runs the runner (see the module docstring).
DECODER = (
    "import base64,json,zlib;"
    "bundle=json.loads(zlib.decompress(base64.b64decode('{blob}')));"
    "exec(compile(bundle['runner'],'airflow_ray_k8s_runner.py','exec'))"
)
_PACKAGE = Path(__file__).resolve().parents[1]


class EntrypointTooLargeError(ValueError):
    """The function and its arguments do not fit in one entrypoint."""


def _shipped_sources() -> dict[str, str]:
    return {
        "runner": (_PACKAGE / "_taskflow" / "runner.py").read_text(encoding="utf-8"),
        "results": (_PACKAGE / "results.py").read_text(encoding="utf-8"),
    }


def build(function: FunctionSource, arguments: dict[str, Any], *, task: str, python: str = "python") -> str:
    """The entrypoint that calls ``function`` with ``arguments`` (from ``arguments.encode``).

    :param task: the Airflow task, named in the driver log.
    :param python: the interpreter on the Ray image.
    :raises EntrypointTooLargeError: over :data:`MAX_ENTRYPOINT_BYTES`.
    """
    bundle = {
        "v": 1,
        **_shipped_sources(),
        "function": {
            "name": function.name,
            "source": function.source,
            "file": function.file,
            "line": function.line,
        },
        "arguments": arguments,
        "task": task,
    }
    raw = json.dumps(bundle, separators=(",", ":")).encode("utf-8")
    blob = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    command = f'{python} -c "{DECODER.format(blob=blob)}"'
    if len(command) > MAX_ENTRYPOINT_BYTES:
        args_size = len(json.dumps(arguments, separators=(",", ":")))
        raise EntrypointTooLargeError(
            f"the entrypoint of {function.name}() would be {len(command)} bytes, over the limit of "
            f"{MAX_ENTRYPOINT_BYTES} (Linux passes it to a shell as one argument, at most 128 KiB): its "
            f"source is {len(function.source)} bytes and its arguments {args_size} bytes before "
            "compression. Pass large inputs by reference (a URI in storage) and ship large code with "
            "runtime_env working_dir / py_modules or in the Ray image"
        )
    return command


def decode(entrypoint: str) -> dict[str, Any]:
    """The bundle inside an entrypoint :func:`build` made (for tests and debugging)."""
    blob = entrypoint.split("b64decode('", 1)[1].split("'", 1)[0]
    bundle: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(blob)))
    return bundle
