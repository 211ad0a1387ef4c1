import pytest

from reconciler.health import assess
from reconciler.phase import Phase

READY = {"conditions": [{"type": "Ready", "status": "True"}]}


def inference_service(generation: int, observed: int | None) -> dict:
    status = dict(READY)
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m", "generation": generation},
        "status": status,
    }


@pytest.mark.parametrize(
    ("generation", "observed", "phase"),
    [(2, 1, Phase.PROGRESSING), (2, 2, Phase.READY), (2, None, Phase.READY)],
)
def test_a_status_for_an_older_generation_is_not_ready(generation, observed, phase):
    assert assess(inference_service(generation, observed)).phase is phase
