"""Kubeconfig certificate / key data served from memory files, and the temp-file fallback."""

from __future__ import annotations

import base64
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_ray_k8s.kube.keyfiles import KeyFiles, materialize

CA, CERT, KEY = b"-----CA-----\n", b"-----CERT-----\n", b"-----KEY-----\n"


def kubeconfig() -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "clusters": [
            {"name": "a", "cluster": {"server": "https://a", "certificate-authority-data": b64(CA)}},
            {"name": "b", "cluster": {"server": "https://b", "certificate-authority-data": b64(CA)}},
        ],
        "users": [
            {"name": "u", "user": {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}},
            {"name": "bad", "user": {"client-key-data": "not base64!"}},
        ],
        "contexts": [
            {"name": "ctx-a", "context": {"cluster": "a", "user": "u"}},
            {"name": "ctx-b", "context": {"cluster": "b", "user": "bad"}},
        ],
        "current-context": "ctx-a",
    }


def test_the_selected_context_gets_memory_file_paths() -> None:
    files = KeyFiles(in_memory=True)
    if not files.in_memory or not hasattr(os, "memfd_create"):  # pragma: no cover
        pytest.skip("memory files need Linux")
    original = kubeconfig()
    out = materialize(original, None, files)
    cluster = out["clusters"][0]["cluster"]
    user = out["users"][0]["user"]
    assert "certificate-authority-data" not in cluster
    assert "client-key-data" not in user
    paths = [cluster["certificate-authority"], user["client-certificate"], user["client-key"]]
    assert all(p.startswith("/proc/self/fd/") for p in paths)
    assert [Path(p).read_bytes() for p in paths] == [CA, CERT, KEY]
    assert "certificate-authority-data" in out["clusters"][1]["cluster"]  # another context: untouched
    assert "certificate-authority-data" in original["clusters"][0]["cluster"]  # the input: untouched
    assert files.count == 3
    files.close()
    assert files.count == 0
    assert not any(os.path.exists(p) for p in paths)


def test_an_explicit_context_and_undecodable_data_left_to_the_loader() -> None:
    files = KeyFiles(in_memory=True)
    out = materialize(kubeconfig(), "ctx-b", files)
    assert out["clusters"][1]["cluster"]["certificate-authority"]
    assert out["users"][1]["user"] == {"client-key-data": "not base64!"}
    assert materialize(kubeconfig(), "no-such-context", files) == kubeconfig()
    files.close()


def test_without_memory_files_temp_files_are_private_and_deleted_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = KeyFiles(in_memory=False)
    out = materialize(kubeconfig(), None, files)
    key_path = Path(out["users"][0]["user"]["client-key"])
    assert key_path.parent == tmp_path
    assert key_path.read_bytes() == KEY
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert len(list(tmp_path.iterdir())) == 3
    files.close()  # when the client closes, not at interpreter exit
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_key_files_object_releases_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = KeyFiles(in_memory=False)
    files.path_for(KEY, "client-key")
    assert len(list(tmp_path.iterdir())) == 1
    del files
    assert list(tmp_path.iterdir()) == []
