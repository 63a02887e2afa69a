"""Stream a Ray job's driver log into the task log from an offset, without repeats or gaps.

The dashboard's job API (``GET /api/jobs/{id}/logs``) returns the whole log each time; a
:class:`LogCursor` remembers how many characters were already emitted and hands out only the new,
complete lines. A trailing partial line is held back until its newline arrives (or the job ends),
so a line is never split across two log records. The cursor's state is one integer, small enough
to travel in trigger kwargs and a RayJob annotation, so a deferral or a triggerer restart continues
where the last emitter stopped.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_ray_k8s.naming import LABEL_PREFIX

#: Where the emitter records its progress on the RayJob: ``{"try": n, "offset": chars}``.
#: Written only when new lines were emitted, so a quiet job costs no writes.
ANNOTATION_LOG_OFFSET = f"{LABEL_PREFIX}/log-offset"

#: Lines kept for a failure message.
DEFAULT_TAIL_LINES = 50
#: Characters kept for a failure message, whatever the line count (driver logs can hold huge lines).
MAX_TAIL_CHARS = 8000


@dataclass
class LogCursor:
    """Position in a driver log that grows by appending.

    :param offset: characters of the log already emitted.
    """

    offset: int = 0
    restarted: bool = field(default=False, repr=False)

    def advance(self, text: str, *, final: bool = False) -> list[str]:
        """Return the complete new lines of ``text`` past the offset, and move the offset past them.

        :param text: the whole log as the dashboard returns it now.
        :param final: the job has ended: also emit a trailing line without newline.
        """
        self.restarted = False
        if len(text) < self.offset:
            # The log is shorter than what was emitted: the job was resubmitted (backoffLimit makes
            # a new cluster and a new log). Start over rather than lose the new attempt's lines.
            self.offset = 0
            self.restarted = True
        new = text[self.offset :]
        if not final:
            cut = new.rfind("\n")
            new = new[: cut + 1] if cut >= 0 else ""
        self.offset += len(new)
        return new.splitlines()


def tail(text: str, lines: int = DEFAULT_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of ``text``, at most :data:`MAX_TAIL_CHARS` characters in all."""
    out = text.splitlines()[-lines:] if lines > 0 else []
    while out and sum(len(line) + 1 for line in out) > MAX_TAIL_CHARS:
        out.pop(0)
    if not out and text:
        out = [text[-MAX_TAIL_CHARS:]]
    return out


def encode_offset(try_number: int, offset: int) -> str:
    """Value of :data:`ANNOTATION_LOG_OFFSET`."""
    return json.dumps({"try": try_number, "offset": offset}, separators=(",", ":"))


def offset_from_annotations(annotations: Mapping[str, Any] | None, try_number: int) -> int:
    """The offset a previous emitter of the same try recorded, else 0.

    Another try's offset does not count: each try has its own task log, which should show the
    driver log from its start.
    """
    raw = (annotations or {}).get(ANNOTATION_LOG_OFFSET)
    if not raw:
        return 0
    try:
        data = json.loads(raw)
        if int(data["try"]) == try_number:
            return max(int(data["offset"]), 0)
    except (ValueError, TypeError, KeyError):
        pass
    return 0
