import operator

from reconciler.phase import FAILING, Phase


def test_phases_compare_by_rank_best_to_worst() -> None:
    assert sorted([Phase.FAILED, Phase.READY, Phase.PENDING, Phase.SUCCEEDED]) == [
        Phase.SUCCEEDED,
        Phase.READY,
        Phase.PENDING,
        Phase.FAILED,
    ]
    assert max(Phase.PROGRESSING, Phase.DEGRADED, Phase.BLOCKED) is Phase.DEGRADED
    # Alphabetically "Progressing" > "Pending" and "Ready" > "Failed": rank decides instead.
    assert Phase.PROGRESSING < Phase.PENDING
    assert Phase.READY < Phase.FAILED


def test_a_status_string_compares_as_the_phase_it_names() -> None:
    # Either side: a str on the left defers to the Phase subclass on the right.
    assert operator.gt("Progressing", Phase.READY)
    assert Phase.READY <= "Progressing"
    assert Phase("Ready") is Phase.READY
    assert "Failed" in FAILING


def test_values_are_the_status_strings() -> None:
    assert [str(phase) for phase in Phase] == [
        "Succeeded",
        "Ready",
        "Progressing",
        "Pending",
        "Blocked",
        "Degraded",
        "Failed",
        "Invalid",
    ]
    assert f"{Phase.DEGRADED}" == "Degraded"
    assert Phase.DEGRADED == "Degraded"
