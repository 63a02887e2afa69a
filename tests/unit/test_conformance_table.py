"""docs/conformance.md's table of differences lists exactly the known differences of the suite."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conformance.differences import KNOWN

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def test_the_docs_table_lists_every_known_difference_and_nothing_else() -> None:
    table = DOC.read_text().split("| Check | Why the local KubeRay differs |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9.\-_]+)` \|", table, flags=re.MULTILINE)
    assert sorted(rows) == sorted(KNOWN), "docs/conformance.md and tests/conformance/differences.py disagree"
