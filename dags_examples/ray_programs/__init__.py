"""Small, real Ray programs that the example DAGs submit as RayJob entrypoints.

Each file is a standalone script (no imports from this folder), so it can be shipped to a cluster
on its own: baked into the Ray image, mounted from a ConfigMap, or sent as a ``working_dir``.
Every program ends by printing one line that the tests and the example DAGs check in the driver
log::

    RESULT program=<name> key=value key=value ...

Values are deterministic for the same arguments (data is generated from a seed derived from
``--ds``; nothing is downloaded), so a test can assert the exact numbers.
"""

from __future__ import annotations

import re

RESULT_LINE = re.compile(r"^RESULT (?P<pairs>program=\S+(?: \S+=\S+)*)\s*$", re.MULTILINE)


def parse_results(log: str) -> list[dict[str, str]]:
    """Return every ``RESULT`` line of a driver log as a dict, in order of appearance."""
    lines = (match.group("pairs") for match in RESULT_LINE.finditer(log))
    return [dict(pair.split("=", 1) for pair in pairs.split()) for pairs in lines]
