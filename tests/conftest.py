"""Test-session settings shared by every test layer.

Airflow reads AIRFLOW_HOME when it is first imported, so it is pinned here, before any test module
imports Airflow, to a throw-away folder: the suite never touches a developer's ~/airflow.
"""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="airflow-ray-k8s-tests-")
os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
