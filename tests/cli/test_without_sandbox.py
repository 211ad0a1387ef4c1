"""The reconciler where the sandbox is not installed, as in the production image.

Each test runs a fresh interpreter whose first meta-path finder refuses the sandbox package and
what only its extra installs, the way an interpreter without them answers an import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.commands.sandbox import NOT_INSTALLED, sandbox_required
from reconciler.errors import ConfigError

WITHOUT_SANDBOX = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"reconciler_sandbox", "kubernetes_validate"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent())
"""

IMPORT_EVERY_MODULE = """
import pkgutil, importlib, reconciler
names = [
    info.name
    for info in pkgutil.walk_packages(reconciler.__path__, "reconciler.")
    if not info.name.endswith("__main__")
]
for name in names:
    importlib.import_module(name)
assert not {"reconciler_sandbox", "kubernetes_validate"} & set(sys.modules)
print(len(names))
"""

RUN_CLI = "from reconciler.cli import main\nsys.exit(main(sys.argv[1:]))"


def without_sandbox(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SANDBOX + code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_every_reconciler_module_imports_without_the_sandbox():
    done = without_sandbox(IMPORT_EVERY_MODULE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100, "the walk found the modules"


def test_the_help_lists_every_command_without_the_sandbox():
    done = without_sandbox(RUN_CLI, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sandbox" in done.stdout and "demo" in done.stdout and "run" in done.stdout


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_the_sandbox_commands_say_how_to_install_it(command, tmp_path):
    done = without_sandbox(RUN_CLI, command, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"reconciler {command}: {NOT_INSTALLED}\n"
    assert "reconciler[sandbox]" in done.stderr and "pip install -e '.[sandbox]'" in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was started or written"


def test_an_unrelated_missing_module_is_not_blamed_on_the_sandbox():
    with pytest.raises(ModuleNotFoundError), sandbox_required():
        raise ModuleNotFoundError("No module named 'reconciler.absent'", name="reconciler.absent")
    with pytest.raises(ConfigError), sandbox_required():
        raise ModuleNotFoundError("No module named 'reconciler_sandbox'", name="reconciler_sandbox")
