"""Where the real control plane's binaries and KubeRay's CRDs are, and which versions they are.

``make real-kuberay`` builds them from the Go module proxy into ``<checkout>/.tools/realkube/``
(``bin/`` and ``crds/``); ``REALKUBE_DIR`` points elsewhere. The versions are those pinned in
``tools/realkube/*/go.mod``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REALKUBE_DIR_ENV = "REALKUBE_DIR"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kuberay-operator")
#: The KubeRay release the operator and the CRDs come from. v1.7.0 is what the provider targets;
#: the module proxy serves ray-operator only up to v1.6.2 here (v1.7.0 answers 403).
KUBERAY_VERSION = "v1.6.2"
KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.5"


def checkout_root() -> Path:
    """The source checkout this package runs from (realkube -> testing -> airflow_ray_k8s -> root)."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Toolset:
    """The folder holding ``bin/<binary>`` and ``crds/ray.io_*.yaml``."""

    root: Path

    @classmethod
    def default(cls) -> Toolset:
        """``$REALKUBE_DIR``, else ``<checkout>/.tools/realkube``."""
        env = os.environ.get(REALKUBE_DIR_ENV)
        return cls(Path(env) if env else checkout_root() / ".tools" / "realkube")

    def binary(self, name: str) -> Path:
        """The path of one binary (it may not exist: see :meth:`missing`)."""
        return self.root / "bin" / name

    @property
    def crd_dir(self) -> Path:
        """KubeRay's CRD manifests of :data:`KUBERAY_VERSION`."""
        return self.root / "crds"

    def crd_files(self) -> list[Path]:
        """The RayCluster, RayJob and RayService CRDs (the ones KubeRay's operator watches)."""
        return [
            self.crd_dir / f"ray.io_{plural}.yaml" for plural in ("rayclusters", "rayjobs", "rayservices")
        ]

    def missing(self) -> list[str]:
        """What ``make real-kuberay`` has not built yet (empty when everything is there)."""
        absent = [name for name in BINARIES if not os.access(self.binary(name), os.X_OK)]
        absent += [path.name for path in self.crd_files() if not path.is_file()]
        return absent
