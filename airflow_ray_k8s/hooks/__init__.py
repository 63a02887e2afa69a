"""Airflow hooks: the Airflow face of the Kubernetes layer."""
