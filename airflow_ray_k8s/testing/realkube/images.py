"""Which container images the node agent can "pull".

The agent has no container runtime: a container runs as a process of this machine, with the
running virtualenv (its Ray, its Python) standing in for the image. So only images that are Ray
images can honestly run here; any other image is one this node's registry does not have, and the
pod shows exactly what a kubelet shows for that: ``ErrImagePull``, then ``ImagePullBackOff``.

One more image runs: ``registry.k8s.io/pause`` (the sandbox image every node's container runtime
already holds), whose only program sleeps until it is stopped; a shell loop that exits 0 on
SIGTERM, as ``/pause`` does, stands in for it. It keeps a pod running at no cost (the image
pre-pull DaemonSet uses it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# rayproject/ray, ray-ml and ray-llm with a version-like tag (2.52.0, 2.52.0-py311-cpu, nightly,
# latest), optionally from Docker Hub by its full name or by digest.
_RAY_IMAGE = re.compile(
    r"^(?:(?:docker\.io|registry-1\.docker\.io)/)?rayproject/ray(?:-ml|-llm)?"
    r"(?::(?:\d+\.\d+\.\d+[\w.-]*|nightly[\w.-]*|latest))?(?:@sha256:[0-9a-f]{64})?$"
)

_PAUSE_IMAGE = re.compile(r"^registry\.k8s\.io/pause:\d+\.\d+(?:@sha256:[0-9a-f]{64})?$")
# The pause image's USER (65535:65535).
PAUSE_UID = 65535
# /pause's behaviour: sleep until SIGTERM or SIGINT, then exit 0.
PAUSE_COMMAND = ("sh", "-c", 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done')


def is_ray_image(image: str) -> bool:
    """Whether ``image`` names an official Ray image (the ones whose pull the node models)."""
    return bool(_RAY_IMAGE.match(image))


def is_pause_image(image: str) -> bool:
    """Whether ``image`` is the Kubernetes pause image."""
    return bool(_PAUSE_IMAGE.match(image))


@dataclass(frozen=True)
class ImagePolicy:
    """The images this node has.

    :param extra: more image references (exact strings) that run with the virtualenv too.
    :param env: what the images' ``ENV`` sets in every container (the pod's own env wins).
    """

    extra: frozenset[str] = field(default_factory=frozenset)
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def with_extra(cls, images: Iterable[str], env: Mapping[str, str] | None = None) -> ImagePolicy:
        """A policy that also accepts ``images`` and whose images set ``env``."""
        return cls(frozenset(images), dict(env or {}))

    def available(self, image: str) -> bool:
        """Whether a container of ``image`` can run here."""
        return image in self.extra or is_ray_image(image) or is_pause_image(image)

    def entrypoint(self, image: str) -> tuple[str, ...] | None:
        """The image's own ``ENTRYPOINT`` stand-in when a container gives no ``command``; ``None``
        for the Ray images, which have none (their default ``CMD`` is ``bash``)."""
        return PAUSE_COMMAND if is_pause_image(image) else None

    def pull_error(self, image: str) -> str:
        """The message of a failed pull (what a kubelet's event says, in its words)."""
        return (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
            f'unpack image "{image}": not found on this node (the node agent runs Ray images only)'
        )
