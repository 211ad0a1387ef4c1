"""The Dockerfile, checked by reading it (no image is built here): pinned, multi-stage, non-root."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.conftest import PROJECT

PINNED = re.compile(r"^python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (PROJECT / "Dockerfile").read_text(encoding="utf-8")
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(item.split(None, 1)[0].upper(), item.split(None, 1)[1]) for item in logical]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_base_images_are_pinned_and_equal():
    images = [args.split()[0] for _, args in instructions() if _ == "FROM"]
    assert len(images) == 2, "a build stage and a runtime stage"
    assert all(PINNED.match(image) for image in images), images
    assert images[0] == images[1], "the copied venv links to the base image's interpreter"


def test_the_build_stage_builds_a_wheel_into_a_venv():
    build = " ".join(args for _, args in stages()[0])
    assert "AS build" in stages()[0][0][1]
    assert "python -m venv /opt/reconciler" in build
    assert "pip wheel" in build and "pip install /wheels/" in build


def test_the_final_stage_has_only_the_venv_and_runs_as_nonroot():
    final = stages()[-1]
    kinds = [kind for kind, _ in final]
    assert ("COPY", "--from=build /opt/reconciler /opt/reconciler") in final
    assert not [args for kind, args in final if kind == "COPY" and "--from=build" not in args]
    runs = " ".join(args for kind, args in final if kind == "RUN")
    for tool in ("pip ", "gcc", "build-essential", "curl", "git "):
        assert tool not in runs
    # apt-get only brings the signature checkers --verify-commits runs, and leaves no lists.
    installed = re.findall(r"apt-get install -y --no-install-recommends ([a-z0-9 -]+?)\s*&&", runs)
    assert installed == ["gnupg openssh-client"]
    assert "rm -rf /var/lib/apt/lists/*" in runs
    (user,) = [args for kind, args in final if kind == "USER"]
    assert user.split(":")[0] == "65532"
    assert kinds.index("USER") > kinds.index("RUN")
    (entrypoint,) = [args for kind, args in final if kind == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["reconciler", "run"]
    assert ("EXPOSE", "8080") in final


@pytest.mark.parametrize("needed", ["pyproject.toml", "reconciler/"])
def test_dockerignore_keeps_the_build_inputs(needed):
    lines = (PROJECT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines and f"!{needed}" in lines
