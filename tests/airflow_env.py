"""An initialised Airflow metadata DB with a given DAG folder, for tests that run ``dag.test()``.

``dag.test()`` only runs DAGs it finds in the ``dags-folder`` bundle, so the folder must be the one
holding the test's DAG files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def airflow_db_with_dags(folder: Path) -> Iterator[None]:
    """Point Airflow at ``folder`` (also importable), ``initdb`` on SQLite, restore on exit."""
    saved = {k: os.environ.get(k) for k in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES")}
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    sys.path.insert(0, str(folder))
    from airflow import settings
    from airflow.utils import db

    # Read once when airflow.settings is imported, which other tests of the session may have done
    # before this ran: the dags-folder bundle reads this attribute.
    saved_folder = settings.DAGS_FOLDER
    settings.DAGS_FOLDER = str(folder)
    db.initdb()
    try:
        yield
    finally:
        settings.DAGS_FOLDER = saved_folder
        sys.path.remove(str(folder))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
