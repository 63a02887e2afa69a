"""Fixtures of the pure kube-layer tests."""

from __future__ import annotations

import pytest

from .kube_scripted import Script


@pytest.fixture
def script() -> Script:
    return Script()
