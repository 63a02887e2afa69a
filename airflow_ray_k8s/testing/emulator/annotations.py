"""Per-object emulator settings, set as annotations so that DAG tests can set them through the
provider. KubeRay copies a RayJob's annotations onto the RayCluster it creates, so cluster faults
set on a RayJob reach its cluster too.

Cluster (RayCluster or RayJob):

- ``emulator.airflow-ray-k8s.io/head-fault``: ``ImagePullBackOff`` | ``ErrImagePull`` |
  ``Unschedulable``: the head pod never starts; its status and events say why, as on a real cluster.
- ``emulator.airflow-ray-k8s.io/provision-delay-seconds``: the head starts this long after the
  RayCluster was created (slow provisioning).
- ``emulator.airflow-ray-k8s.io/head-crash-after-seconds``: the head's processes are killed this
  long after it became ready (a head crash mid-job).

Job (RayJob, scripted mode only):

- ``emulator.airflow-ray-k8s.io/outcome``: ``SUCCEEDED`` | ``FAILED`` | ``REJECTED`` (the head
  answers the submission with 400, so K8sJobMode ends ``SubmissionFailed``).
- ``emulator.airflow-ray-k8s.io/duration-seconds``: seconds from submission to the job's end.
- ``emulator.airflow-ray-k8s.io/driver-log``: what the scripted driver prints (appended to its log
  when it ends, before the emulator's own last line): the output the real entrypoint would have,
  e.g. the result records of :mod:`airflow_ray_k8s.results`, declared by the test like the outcome.
- ``emulator.airflow-ray-k8s.io/driver-log-filler-lines``: that many numbered lines after it (a
  long log, for tests that must not depend on its tail).

Serve (RayService, scripted mode only; read when a Serve config is deployed to a cluster):

- ``emulator.airflow-ray-k8s.io/serve-outcome``: ``RUNNING`` (default) | ``DEPLOY_FAILED`` |
  ``UNHEALTHY`` | ``DEPLOYING`` (the applications never finish deploying: a stalled upgrade).
- ``emulator.airflow-ray-k8s.io/serve-deploy-seconds``: seconds from the deploy to that outcome.
"""

from __future__ import annotations

import contextlib
from typing import Any

PREFIX = "emulator.airflow-ray-k8s.io/"
HEAD_FAULT = PREFIX + "head-fault"
PROVISION_DELAY = PREFIX + "provision-delay-seconds"
HEAD_CRASH_AFTER = PREFIX + "head-crash-after-seconds"
OUTCOME = PREFIX + "outcome"
DURATION = PREFIX + "duration-seconds"
DRIVER_LOG = PREFIX + "driver-log"
DRIVER_LOG_FILLER = PREFIX + "driver-log-filler-lines"
SERVE_OUTCOME = PREFIX + "serve-outcome"
SERVE_DELAY = PREFIX + "serve-deploy-seconds"

HEAD_FAULTS = ("ImagePullBackOff", "ErrImagePull", "Unschedulable")


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    """The object's annotations (empty if none)."""
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def seconds(obj: dict[str, Any], key: str) -> float | None:
    """A numeric annotation, None if absent or not a number."""
    raw = annotations_of(obj).get(key)
    if raw is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(raw))
    return None


def driver_log(obj: dict[str, Any]) -> list[str]:
    """The lines a scripted driver prints: its ``driver-log`` text, then the filler lines asked for."""
    lines = (annotations_of(obj).get(DRIVER_LOG) or "").splitlines()
    filler = int(seconds(obj, DRIVER_LOG_FILLER) or 0)
    return lines + [f"filler line {i} of {filler} (a long driver log)" for i in range(1, filler + 1)]


def head_fault(obj: dict[str, Any]) -> str | None:
    """The injected head-pod fault, if any (unknown values are ignored)."""
    value = annotations_of(obj).get(HEAD_FAULT)
    return value if value in HEAD_FAULTS else None
