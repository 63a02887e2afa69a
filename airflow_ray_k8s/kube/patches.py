"""JSON merge patches (RFC 7386) computed from two versions of an object. Pure."""

from __future__ import annotations

from typing import Any


def merge_patch(old: Any, new: Any) -> Any:
    """The merge patch turning ``old`` into ``new``: changed keys, removed keys as ``None``.

    Lists and scalars are replaced whole (a merge patch cannot edit a list in place).
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch
