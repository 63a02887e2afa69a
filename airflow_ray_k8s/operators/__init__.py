"""Airflow operators. Modules here import nothing heavy at module level (DAG parse cost)."""
