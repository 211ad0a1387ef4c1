"""The wheels the project builds: the image's holds no sandbox, a checkout's holds both packages.

Built as the Dockerfile builds them (`pip wheel --no-deps`), from a copy of the build context, with
the test environment's setuptools so that no network is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

from tests.deploy.conftest import PROJECT

SANDBOX_ONLY = "kubernetes-validate"


def image_context() -> list[str]:
    """What .dockerignore lets into the image build: the Dockerfile copies from this alone."""
    lines = (PROJECT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line[1:].rstrip("/") for line in lines if line.startswith("!")]


def build_wheel(tmp_path: Path, inputs: list[str]) -> zipfile.ZipFile:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in inputs:
        source = PROJECT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, tree / name, ignore=ignore)
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--wheel-dir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("reconciler-*.whl")
    return zipfile.ZipFile(wheel)


def metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(name).decode())


def test_the_image_wheel_has_no_sandbox_and_needs_none_of_its_dependencies(tmp_path):
    assert sorted(image_context()) == ["README.md", "pyproject.toml", "reconciler"]
    wheel = build_wheel(tmp_path, image_context())
    names = wheel.namelist()
    assert "reconciler/cli.py" in names and "reconciler/py.typed" in names
    assert [name for name in names if "sandbox" in name] == ["reconciler/commands/sandbox.py"]
    required = metadata(wheel).get_all("Requires-Dist")
    sandbox_only = [item for item in required if item.startswith(SANDBOX_ONLY)]
    assert sandbox_only and all(item.endswith('extra == "sandbox"') for item in sandbox_only)


def test_a_checkout_wheel_carries_the_sandbox_with_its_data(tmp_path):
    wheel = build_wheel(tmp_path, [*image_context(), "reconciler_sandbox"])
    names = wheel.namelist()
    assert "reconciler_sandbox/protobuf_fields.json" in names
    assert "reconciler_sandbox/custom_workloads/trainjob.py" in names
    assert "sandbox" in metadata(wheel).get_all("Provides-Extra")
