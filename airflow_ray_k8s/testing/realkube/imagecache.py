"""The node's image store, with a modelled pull time for the Ray images.

Nothing here pulls anything (no registry, no network): a pull is a wait of ``pull_seconds``, which
models what a real node spends fetching and unpacking a Ray image it does not hold yet. Off by
default (``pull_seconds == 0``): every image counts as present, as the node agent always had it.

With a pull time, the node starts cold. A Ray image is in the cache once a pull of it ended; a
container of an image in the cache starts at once. Concurrent pulls of one image share one pull,
as the kubelet's pull queue and containerd's shared content store make them: the first pod waits
the full time, the others wait for the same pull to end. Other images (the pause image every
runtime holds as its sandbox image, the tests' extra images) are present from the start.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from airflow_ray_k8s.testing.realkube.images import is_ray_image

# What the model's default stands for: a Ray CPU image of ~2 GB (py311, unpacked), the order of
# rayproject/ray:2.x-py311. The kubelet reports the size in its "Successfully pulled" event.
RAY_IMAGE_BYTES = 2_000_000_000


@dataclass(frozen=True)
class Pull:
    """How one container's image became available.

    :param pulled: a pull happened (``False``: the image was already present).
    :param seconds: the pull's own time (what the kubelet reports as ``in Xs``).
    :param waited: the whole wait, the queue included (``(Ys including waiting)``).
    """

    pulled: bool
    seconds: float = 0.0
    waited: float = 0.0


class ImageCache:
    """The images one node holds.

    :param pull_seconds: how long a pull of a Ray image not in the cache takes (0: no model,
        every image is present).
    :param image_bytes: the size the kubelet's event reports for a pulled Ray image.
    """

    def __init__(self, pull_seconds: float = 0.0, image_bytes: int = RAY_IMAGE_BYTES) -> None:
        if pull_seconds < 0:
            raise ValueError(f"image_pull_seconds must be >= 0, got {pull_seconds}")
        self.pull_seconds = float(pull_seconds)
        self.image_bytes = image_bytes
        self._held: set[str] = set()
        self._pulls: dict[str, asyncio.Task[float]] = {}

    def present(self, image: str) -> bool:
        """Whether a container of ``image`` starts without a pull."""
        return self.pull_seconds <= 0 or not is_ray_image(image) or image in self._held

    def held(self) -> frozenset[str]:
        """The Ray images pulled so far (and not forgotten)."""
        return frozenset(self._held)

    def forget(self) -> None:
        """Drop every pulled image: the node is cold again (as after ``crictl rmi``). Pulls in
        flight still end, but their image is not kept."""
        self._held.clear()
        self._pulls.clear()

    async def pull(self, image: str) -> Pull:
        """Make ``image`` present, sharing a pull in flight."""
        if self.present(image):
            return Pull(pulled=False)
        began = time.monotonic()
        task = self._pulls.get(image)
        first = task is None
        if task is None:
            task = asyncio.create_task(self._fetch(image), name=f"pull {image}")
            self._pulls[image] = task
        ended = await asyncio.shield(task)
        waited = time.monotonic() - began
        # The first pod's pull is the fetch itself; a pod that waited for it finds the image
        # unpacked when its turn comes, so its own pull is the moment after the shared one ended.
        seconds = waited if first else max(time.monotonic() - ended, 0.0)
        return Pull(pulled=True, seconds=seconds, waited=waited)

    async def _fetch(self, image: str) -> float:
        try:
            await asyncio.sleep(self.pull_seconds)
            if self._pulls.get(image) is asyncio.current_task():
                self._held.add(image)
            return time.monotonic()
        finally:
            if self._pulls.get(image) is asyncio.current_task():
                del self._pulls[image]


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``20.012s``, ``1m5.5s``, ``512ms``),
    the form of the kubelet's pull events; to the millisecond."""
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis}ms"
    minutes, rest = divmod(millis, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text
