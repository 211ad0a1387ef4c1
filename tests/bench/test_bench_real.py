"""bench/run.py --cluster real at a tiny N: each system on its own real cluster, every row filled.

Needs the control plane ``hack/local-cluster build`` makes (CI builds it first; elsewhere the
tests skip without it). Flux runs only with RECONCILER_BENCH_FLUX=1 once ``hack/flux/build`` has
built it; CI does not build it, so there its test skips with that reason.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
ROWS = (
    "cold: start until every object exists",
    "settled: Deployments Available, Jobs Complete",
    "no-op reconcile",
    "push to live, p50",
    "push to live, p99",
    "one removed spec until its objects are gone",
    "peak RSS of the system's processes",
)


def _control_plane_built() -> bool:
    path = str(PROJECT / "hack" / "local-cluster")
    loader = importlib.machinery.SourceFileLoader("local_cluster_for_bench_tests", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # its dataclasses look their module up
    loader.exec_module(module)
    given = module.given_bin_dir(None)
    bins = given or module.cache_root(None) / module.version_key() / "bin"
    return not module.missing_in(bins)


def _flux_built() -> bool:
    done = subprocess.run(
        [str(PROJECT / "hack" / "flux" / "build"), "--no-build"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.fixture(scope="module", autouse=True)
def control_plane() -> None:
    if not _control_plane_built():
        if os.environ.get("CI") == "true":
            pytest.fail("the control plane is not built: run hack/local-cluster build")
        pytest.skip("the control plane is not built (hack/local-cluster build)")


def run_bench(tmp_path: Path, *systems: str) -> dict[str, list[str]]:
    """The report's rows, label -> cells, for ``systems`` at N = 20: two specs per team, so
    removing one never empties a team folder (Flux then fails that Kustomization, prunes nothing).
    """
    output = tmp_path / "RESULTS.md"
    output.write_text("# Benchmark results\n\nthe sandbox part, kept\n")
    command = [sys.executable, str(PROJECT / "bench" / "run.py"), "--cluster", "real"]
    command += ["--specs", "20", "--systems", *systems, "--pushes", "2", "--kubectl-pushes", "1"]
    done = subprocess.run(
        [*command, "--output", str(output)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = output.read_text()
    assert report.startswith("# Benchmark results\n\nthe sandbox part, kept\n")
    assert "### N = 20 specs" in report
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in report.splitlines()
        if line.startswith("| ") and not line.startswith("| measurement")
    }
    for row in ROWS:
        assert row in rows, f"missing row {row!r} in:\n{report}"
    return rows


def test_reconciler_and_kubectl_on_real_clusters(tmp_path: Path) -> None:
    rows = run_bench(tmp_path, "reconciler", "kubectl")
    # reconciler, its requests, kubectl, its requests, reconciler / kubectl, target
    noop = rows["no-op reconcile"]
    assert noop[1] == "0; 0 Git commits", noop  # counted by kube-apiserver, not by us
    assert noop[3].endswith(tuple(f"apply {n}" for n in range(1, 100))), noop
    cold = rows["cold: start until every object exists"]
    assert cold[0].endswith(("ms", " s")) and cold[2].endswith(("ms", " s")), cold
    assert float(cold[4]) > 0
    push = rows["push to live, p50"]
    assert "(n=2)" in push[0] and "apply 2" in push[1], push
    assert rows["one removed spec until its objects are gone"][2] == "n/a"


def test_flux_on_a_real_cluster(tmp_path: Path) -> None:
    # Opt-in: whether Flux happens to be in a machine's build cache must not change what the
    # suite runs, and CI does not build it.
    if os.environ.get("RECONCILER_BENCH_FLUX") != "1":
        pytest.skip("Flux's harness runs with RECONCILER_BENCH_FLUX=1 (after hack/flux/build)")
    if not _flux_built():
        pytest.skip("Flux is not built (hack/flux/build)")
    rows = run_bench(tmp_path, "flux")
    push = rows["push to live, p50"]
    assert "(n=2)" in push[0] and "apply (dry run)" in push[1], push
    removed = rows["one removed spec until its objects are gone"]
    assert "delete 2" in removed[1], removed
