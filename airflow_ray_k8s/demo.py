"""The README's main command (``make demo``).

The local KubeRay emulator (issue 5) and the example DAGs (issue 7) are not in yet; until they are,
this shows what exists: the provider as Airflow discovers it.
"""

from __future__ import annotations

import os


def main() -> int:
    """Print the provider's registration as Airflow sees it."""
    os.environ.setdefault("AIRFLOW_HOME", os.path.join(os.getcwd(), ".airflow"))
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    info = pm.providers.get("airflow-ray-k8s")
    if info is None:
        print("airflow-ray-k8s is NOT discovered by Airflow's ProvidersManager")
        return 1
    print(f"airflow-ray-k8s {info.version} discovered by Airflow")
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks.get("kuberay")
    print(f"connection type 'kuberay' -> {hook.hook_class_name if hook else 'missing'}")
    print("The end-to-end example DAG on the local KubeRay emulator is not available yet.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
