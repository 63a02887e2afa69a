"""Guards on the repository layout that the test runner and CI rely on."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_folder_is_a_package() -> None:
    """Same-named test modules in two folders clash unless every folder is a package."""
    missing = sorted(
        str(folder.relative_to(ROOT))
        for folder in {p.parent for p in (ROOT / "tests").rglob("test_*.py")}
        if not (folder / "__init__.py").exists()
    )
    assert missing == [], f"add an __init__.py to: {missing}"


def test_no_kuberay_crd_copied_into_the_repo() -> None:
    """The CRDs are read from ../shared/kuberay/crds, never copied in."""
    offenders = [
        str(p.relative_to(ROOT))
        for pattern in ("*.yaml", "*.yml")
        for p in ROOT.rglob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
        and "kind: CustomResourceDefinition" in p.read_text(errors="ignore")
    ]
    assert offenders == []
