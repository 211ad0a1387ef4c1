"""The reasons reconciler itself puts on a spec's Ready condition, in one place.

A stage that stops a spec names itself (Flux's stage-specific reasons); the rest say why the
assembled status is what it is when no object of the spec speaks for it. Reasons read from live
objects (a controller's own condition reasons) come from ``reconciler.health`` and are not listed.
StrEnum members compare equal to their text, so status files, Events and notifications carry the
same words as before.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # A stage stopped the spec (the phase follows from the stage, see status.assemble).
    INVALID_SPEC = "InvalidSpec"  # load: the spec's document did not validate
    RENDER_FAILED = "RenderFailed"  # desired: a valid spec could not become manifests
    NOT_INSTALLED = "NotInstalled"  # plan: a kind it renders is not served by the cluster
    APPLY_FAILED = "ApplyFailed"  # apply or prune: the API server refused a write
    NOT_OWNED = "NotOwned"  # apply: an object at that address belongs to someone else
    # No stage stopped it; the status says why it is not Ready yet, or that it finished.
    WAITING = "Waiting"  # nothing to serve yet (no run passes the gate)
    RUN_STARTING = "RunStarting"  # a training run was just created
    STEPS_RUNNING = "StepsRunning"
    STEP_FAILED = "StepFailed"
    PIPELINE_SUCCEEDED = "PipelineSucceeded"
    CANARY_ROLLED_BACK = "CanaryRolledBack"  # its analysis failed; the primary serves alone
