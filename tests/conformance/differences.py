"""Where the local KubeRay knowingly differs from the real control plane, and why it stays so.

Keys are the check names of this suite (``<check>`` or ``<check>.<field>``); docs/conformance.md
shows the same table (tests/unit/test_conformance_table.py keeps the two in step). A listed
difference that disappears fails its check, so the list stays true.
"""

from __future__ import annotations

#: check name -> why the local KubeRay keeps behaving differently.
KNOWN: dict[str, str] = {
    "create-defaults-metadata": "no managedFields: the local KubeRay has no server-side apply (its "
    "defaults, from the CRD's structural schema, are the real ones)",
    "table-output": "no server-side printing: `kubectl get` gets a list, not a Table with the CRD's "
    "printer columns",
    "discovery-openapi-v2": "no OpenAPI documents: kubectl's client-side validation and `kubectl explain` "
    "need the real server (use --validate=false against the local KubeRay)",
    "discovery-openapi-v3": "no OpenAPI documents (see /openapi/v2)",
    "watch-from-compacted-version": "the local KubeRay replays any version still in its event history "
    "(history_size events, no time-based compaction); a real watch cache starts at its own start and etcd "
    "compacts (every 30 s here, 5 min by default), so an old version gets 410 Expired; the local KubeRay's "
    "410 path is reached with a small history_size",
    "rayjob-success.events": "the local KubeRay submits the job to the head's dashboard itself (no submitter "
    "Job, so no CreatedRayJobSubmitter and no Job controller events) and emits SubmittedRayJob",
    "rayjob-failure.events": "as rayjob-success.events",
    "rayjob-success.final_fields": "KubeRay v1.7 (what the local KubeRay models) writes RayJob "
    "status.observedGeneration; the v1.6.2 operator built here does not",
    "rayjob-failure.final_fields": "as rayjob-success.final_fields",
    "rayjob-held-then-admitted.events": "as rayjob-success.events",
    "rayjob-held-then-admitted.final_fields": "as rayjob-success.final_fields",
    "rayjob-held-then-admitted.held_fields": "as rayjob-success.final_fields (observedGeneration)",
}
