"""The DAG bundles of the example tests: the test DAG folder, and ``dags_examples/`` as ``examples``."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples"


def bundle_config_with_examples() -> str:
    """``[dag_processor] dag_bundle_config_list`` with the example folder as the ``examples`` bundle
    (``dag.test()`` serializes a DAG from its bundle)."""
    from airflow import settings

    return json.dumps(
        [
            {
                "name": "dags-folder",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": settings.DAGS_FOLDER},
            },
            {
                "name": "examples",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(EXAMPLES)},
            },
        ]
    )
