"""Certificates and keys of in-memory kubeconfig content, handed to the TLS libraries without a disk file.

Python's ``ssl`` (under urllib3 and aiohttp alike) loads a CA bundle, a client certificate and a
client key only from *paths*, so the ``kubernetes`` libraries write a kubeconfig's
``certificate-authority-data`` / ``client-certificate-data`` / ``client-key-data`` to temp files that
they remove only when the interpreter exits. :func:`materialize` instead rewrites those entries to
``certificate-authority`` / ``client-certificate`` / ``client-key`` paths served by :class:`KeyFiles`:

- on Linux, anonymous memory files (``memfd_create``) opened through ``/proc/self/fd/N``: the
  bytes never reach a filesystem, and they vanish when the descriptors close;
- elsewhere, private temp files (mode 0600) deleted by :meth:`KeyFiles.close`, i.e. when the
  client closes, not at exit.

The files must live as long as the client: urllib3 reads them again for every new connection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import os
import tempfile
import weakref
from collections.abc import Mapping
from typing import Any

#: kubeconfig entries whose ``-data`` variant is materialized, by section.
_CLUSTER_FILES = ("certificate-authority",)
_USER_FILES = ("client-certificate", "client-key")


def _memfd_supported() -> bool:
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def _release(fds: list[int], paths: list[str]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    for path in paths:
        with contextlib.suppress(OSError):  # removed already by someone else: nothing to do
            os.remove(path)
    fds.clear()
    paths.clear()


class KeyFiles:
    """Paths for certificate / key bytes, valid until :meth:`close` (or garbage collection).

    :param in_memory: use ``memfd_create`` (default: when the platform has it and ``/proc``).
    """

    def __init__(self, *, in_memory: bool | None = None) -> None:
        self.in_memory = _memfd_supported() if in_memory is None else in_memory
        self._fds: list[int] = []
        self._paths: list[str] = []
        # A client dropped without close() still releases its key material.
        self._finalizer = weakref.finalize(self, _release, self._fds, self._paths)

    def path_for(self, data: bytes, label: str) -> str:
        """A path whose content is ``data``; ``label`` names it (no secret in it)."""
        if self.in_memory:
            fd = os.memfd_create(f"airflow-ray-k8s-{label}", os.MFD_CLOEXEC)
            self._fds.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return f"/proc/self/fd/{fd}"
        fd, path = tempfile.mkstemp(prefix="airflow-ray-k8s-", suffix=f"-{label}")  # mode 0600
        self._paths.append(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    @property
    def count(self) -> int:
        """How many files are held."""
        return len(self._fds) + len(self._paths)

    def close(self) -> None:
        """Release the files (close the memory files, or delete the temp files)."""
        _release(self._fds, self._paths)


def _named(entries: Any, name: Any) -> dict[str, Any] | None:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def _swap(section: Any, keys: tuple[str, ...], files: KeyFiles) -> None:
    if not isinstance(section, dict):
        return
    for key in keys:
        data = section.get(f"{key}-data")
        if not isinstance(data, str) or not data:
            continue
        try:
            raw = base64.standard_b64decode(data)
        except (binascii.Error, ValueError):
            continue  # left as is: the library reports it (without our help in quoting it)
        section[key] = files.path_for(raw, key)
        # The library prefers "-data" over the path when both are present.
        del section[f"{key}-data"]


def materialize(kubeconfig: Mapping[str, Any], context: str | None, files: KeyFiles) -> dict[str, Any]:
    """A copy of ``kubeconfig`` whose selected cluster and user carry file paths from ``files``
    instead of embedded ``-data`` (only the context in use: others are not materialized).

    A kubeconfig the loader will reject (no such context...) is returned unchanged, for the
    loader's own error.
    """
    out = copy.deepcopy(dict(kubeconfig))
    entry = _named(out.get("contexts"), context or out.get("current-context"))
    ctx = entry.get("context") if entry else None
    if not isinstance(ctx, dict):
        return out
    cluster = _named(out.get("clusters"), ctx.get("cluster"))
    user = _named(out.get("users"), ctx.get("user"))
    if cluster is not None:
        _swap(cluster.get("cluster"), _CLUSTER_FILES, files)
    if user is not None:
        _swap(user.get("user"), _USER_FILES, files)
    return out
