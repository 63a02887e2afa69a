"""Which container images the node agent can "pull".

The agent has no container runtime: a container runs as a process of this machine, with the
running virtualenv (its Ray, its Python) standing in for the image. So only images that are Ray
images can honestly run here; any other image is one this node's registry does not have, and the
pod shows exactly what a kubelet shows for that: ``ErrImagePull``, then ``ImagePullBackOff``.
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
        return image in self.extra or bool(_RAY_IMAGE.match(image))

    def pull_error(self, image: str) -> str:
        """The message of a failed pull (what a kubelet's event says, in its words)."""
        return (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
            f'unpack image "{image}": not found on this node (the node agent runs Ray images only)'
        )
