"""The only code that talks to Kubernetes: config, clients, watches, the dashboard proxy.

Pure (no I/O): :mod:`.config` (connection settings, namespace allow-list), :mod:`.request`
(request building, response reading), :mod:`.errors` (the one error mapping), :mod:`.retry`
(the one retry policy), :mod:`.ops`, :mod:`.watch`, :mod:`.dashboard`, :mod:`.diagnostics`,
:mod:`.access` (operations as sans-I/O generators, see :mod:`.effects`).

I/O: :mod:`.transport` + :mod:`.client` (sync, ``kubernetes``), :mod:`.aio` (async,
``kubernetes_asyncio``), :mod:`.hub` (the shared async watch hub), :mod:`.loader` (client
configuration from settings). The Airflow hooks in :mod:`airflow_ray_k8s.hooks.kuberay` are these
clients plus connection loading.
"""
