"""The sdist and the wheel carry the license the metadata names, and build from each other.

Built with hatchling (the build backend, a test dependency) into a temporary folder: no network.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def build(source: Path, out: Path, *targets: str) -> None:
    args = [arg for target in targets for arg in ("-t", target)]
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", *args, "-d", str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def metadata(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build(ROOT, out, "sdist", "wheel")
    return out


def test_license_file_is_the_mit_license() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 eightxeight-async developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_wheel_carries_the_license_and_its_expression(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        meta = metadata(archive.read(f"{info}/METADATA").decode())
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "eightxeight_async/py.typed" in names
    assert not [name for name in names if name.startswith("tests/")]


def test_sdist_carries_the_license_and_builds_the_same_wheel(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (source,) = tmp_path.iterdir()
    assert (source / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert metadata((source / "PKG-INFO").read_text()).get_all("License-File") == ["LICENSE"]
    # pip installs an sdist by building a wheel from it: that wheel must carry the license too.
    rebuilt = tmp_path / "rebuilt"
    build(source, rebuilt, "wheel")
    (wheel,) = rebuilt.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert any(name.endswith(".dist-info/licenses/LICENSE") for name in archive.namelist())
        assert "eightxeight_async_pytest.py" in archive.namelist()  # the pytest plugin


def test_wheel_carries_the_pytest_plugin_beside_the_package(dist: Path) -> None:
    """The pytest11 entry point names a top-level module (so that pytest loading it imports no
    SDK module); the wheel must carry that module, and nothing else beside the package."""
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        plugin = archive.read("eightxeight_async_pytest.py").decode()
    assert "[pytest11]\neightxeight_async = eightxeight_async_pytest\n" in entry_points
    assert plugin == (ROOT / "eightxeight_async_pytest.py").read_text()
    assert {name.split("/")[0] for name in names} == {
        "eightxeight_async",
        "eightxeight_async_pytest.py",
        info,
    }
