"""What a sweep change will do, in the words ``reconciler plan`` prints; pure.

"grid sweep of 12 trials, 3 at once, 4 GPUs each; 6 already run and kept": from the two sides
of the change alone (the trials base defined have run, or run, once base is reconciled).
"""

from __future__ import annotations

from reconciler.specs.models import TrainingJob
from reconciler.sweep.trials import plan_sweep


def sweep_story(base: TrainingJob | None, head: TrainingJob) -> list[str]:
    sweep = head.spec.sweep
    assert sweep is not None
    plan = plan_sweep(head)
    count = len(plan.trials)
    at_once = min(sweep.parallelism, count)
    gpus = head.spec.resources.gpu * head.spec.workers
    line = f"{sweep.algorithm} sweep of {_trials(count)}, {at_once} at once"
    if gpus:
        line += f", {gpus} GPU{'s' if gpus != 1 else ''} each"
    old = plan_sweep(base) if base is not None and base.spec.sweep is not None else None
    if old is None:
        first = ", ".join(str(t.index) for t in plan.trials[:at_once])
        return [f"{line}; starts trial{'s' if at_once != 1 else ''} {first}"]
    if old.id != plan.id:
        return [
            f"new sweep {plan.id} (its search space, run or objective changed): {line}; "
            f"the {_trials(len(old.trials))} of sweep {old.id} stay as history"
        ]
    kept = len({t.name for t in old.trials} & {t.name for t in plan.trials})
    line += f"; {kept} already run and kept"
    if count > kept:
        line += f", {count - kept} more to run"
    elif len(old.trials) > count:
        line += f"; {len(old.trials) - count} fewer in the budget (their runs stay)"
    return [line]


def _trials(count: int) -> str:
    return f"{count} trial{'s' if count != 1 else ''}"
