"""Release bundles: tarballs uploaded by CI and unpacked on the hosts."""

from __future__ import annotations

import tarfile
from pathlib import Path


def unpack(bundle: Path, destination: Path) -> Path:
    target = destination / bundle.name.removesuffix(".tar.gz")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle, "r:gz") as archive:
        archive.extractall(target)
    return target


def bundle_size(bundle: Path) -> int:
    try:
        with tarfile.open(bundle, "r:gz") as archive:
            return sum(member.size for member in archive.getmembers() if member.isfile())
    finally:
        return bundle.stat().st_size
