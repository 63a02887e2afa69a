"""``python -m airflow_ray_k8s.sweep``: see :mod:`airflow_ray_k8s.sweep.cli`."""

import sys

from airflow_ray_k8s.sweep.cli import main

sys.exit(main())
