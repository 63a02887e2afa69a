"""Typed RayCluster and RayJob specs (pure: no I/O, no Kubernetes client)."""
