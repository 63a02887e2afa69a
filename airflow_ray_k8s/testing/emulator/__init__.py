"""A local Kubernetes API plus a KubeRay v1.7 controller that runs real Ray heads."""
