"""Apache Airflow provider for Ray on Kubernetes via KubeRay."""

__version__ = "0.1.0"
