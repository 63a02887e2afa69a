"""The local KubeRay emulator and a pytest plugin for users' own DAG tests."""
