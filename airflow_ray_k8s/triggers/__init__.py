"""Deferrable triggers that wait on RayJobs and RayClusters through the shared watch hub."""
