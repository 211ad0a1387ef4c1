"""The engine: a loop of triggers around a reconcile that reads as its stages.

loop.Engine          triggers, draining, settling, backoff (inbox.Inbox holds the queue)
reconcile.Reconciler the stages in order, over a frozen per-cycle context (context.Cycle)
load, desire, planning, reconciler.guard, apply, prune, health, report   one stage each
build.build_engine   the engine with its real parts; ports.py says what a fake must do
"""

from reconciler.engine.build import build_engine
from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.inbox import Inbox
from reconciler.engine.loop import Engine
from reconciler.engine.options import MANAGED_KINDS, EngineOptions, Trigger
from reconciler.engine.ports import Cluster

__all__ = [
    "MANAGED_KINDS",
    "Clock",
    "Cluster",
    "Engine",
    "EngineOptions",
    "Inbox",
    "SystemClock",
    "Trigger",
    "build_engine",
]
