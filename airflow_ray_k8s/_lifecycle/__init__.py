"""Operator logic shared by the operators, sensors and triggers (private).

Small pure modules that decide and explain; the Airflow classes in ``operators/``, ``sensors/`` and
``triggers/`` compose them with the hook. Nothing here imports a Kubernetes client at module level.
"""
