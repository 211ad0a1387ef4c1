"""Scenario rules: how simulated workloads behave, from YAML or ``POST /sandbox/rules``.

deployments:
  delay: 0.5                # seconds from a new generation to Available (default: sandbox's)
jobs:                       # first match wins; a Job matching no rule succeeds at once
  - match: "train-*"        # glob on the Job name
    namespace: "*"          # glob on its namespace
    outcome: Succeeded      # or Failed (every attempt fails, so backoffLimit is exhausted)
    duration: 0.2           # seconds each pod runs
    message: '{"accuracy": 0.93}'   # the container's termination message
    exitCode: 0             # default 0 on success, 1 on failure
faults:                     # see reconciler_sandbox.control.Fault
  - {verb: patch, resource: deployments, status: 503, retryAfter: 1, count: 2}
services:                   # InferenceServices and SeldonDeployments; no match: they become ready
  - match: "*"              # glob on the object name
    namespace: "*"          # glob on its namespace
    model: "s3://broken/*"  # glob on a model URI it serves
    outcome: Failed         # or Ready
    message: "model file is corrupt"   # why it failed, as the controller reports it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from reconciler_sandbox import errors
from reconciler_sandbox.control import Fault

OUTCOMES = ("Succeeded", "Failed")
SERVICE_OUTCOMES = ("Ready", "Failed")
DEFAULT_JOB_DURATION = 0.05


@dataclass(frozen=True)
class JobRule:
    match: str = "*"
    namespace: str = "*"
    outcome: str = "Succeeded"
    duration: float = DEFAULT_JOB_DURATION
    message: str = ""
    exit_code: int | None = None

    @property
    def code(self) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return 0 if self.outcome == "Succeeded" else 1


DEFAULT_JOB_RULE = JobRule()


@dataclass(frozen=True)
class ServiceRule:
    match: str = "*"
    namespace: str = "*"
    model: str = "*"
    outcome: str = "Ready"
    message: str = ""


DEFAULT_SERVICE_RULE = ServiceRule()


@dataclass(frozen=True)
class Scenario:
    jobs: tuple[JobRule, ...] = ()
    deployment_delay: float | None = None
    faults: tuple[Fault, ...] = field(default=())
    services: tuple[ServiceRule, ...] = ()

    def job_rule(self, namespace: str, name: str) -> JobRule:
        for rule in self.jobs:
            if fnmatchcase(name, rule.match) and fnmatchcase(namespace, rule.namespace):
                return rule
        return DEFAULT_JOB_RULE

    def service_rule(self, namespace: str, name: str, models: list[str]) -> ServiceRule:
        for rule in self.services:
            if (
                fnmatchcase(name, rule.match)
                and fnmatchcase(namespace, rule.namespace)
                and any(fnmatchcase(model, rule.model) for model in models)
            ):
                return rule
        return DEFAULT_SERVICE_RULE


def parse(data: Any) -> Scenario:
    """A Scenario from parsed YAML/JSON; malformed rules are a 400 with the reason."""
    if data is None:
        return Scenario()
    if not isinstance(data, dict):
        raise errors.bad_request(
            "scenario must be a mapping with jobs, deployments, faults and services"
        )
    unknown = set(data) - {"jobs", "deployments", "faults", "services"}
    if unknown:
        raise errors.bad_request(f"unknown scenario sections: {sorted(unknown)}")
    jobs = tuple(_job_rule(item) for item in data.get("jobs") or [])
    deployments = data.get("deployments") or {}
    delay = deployments.get("delay") if isinstance(deployments, dict) else None
    faults = tuple(Fault.from_dict(item) for item in data.get("faults") or [])
    services = tuple(_service_rule(item) for item in data.get("services") or [])
    return Scenario(jobs, float(delay) if delay is not None else None, faults, services)


def load(path: str | Path) -> Scenario:
    with open(path, encoding="utf-8") as handle:
        return parse(yaml.safe_load(handle))


def _job_rule(item: Any) -> JobRule:
    if not isinstance(item, dict):
        raise errors.bad_request(f"a job rule must be a mapping, got {item!r}")
    names = {"exitCode": "exit_code"}
    fields = {names.get(k, k): v for k, v in item.items()}
    unknown = set(fields) - set(JobRule.__dataclass_fields__)
    if unknown:
        raise errors.bad_request(f"unknown job rule fields: {sorted(unknown)}")
    rule = JobRule(**fields)
    if rule.outcome not in OUTCOMES:
        raise errors.bad_request(
            f"job rule outcome must be one of {OUTCOMES}, got {rule.outcome!r}"
        )
    return JobRule(
        match=str(rule.match),
        namespace=str(rule.namespace),
        outcome=rule.outcome,
        duration=float(rule.duration),
        message=str(rule.message),
        exit_code=rule.exit_code,
    )


def _service_rule(item: Any) -> ServiceRule:
    if not isinstance(item, dict):
        raise errors.bad_request(f"a service rule must be a mapping, got {item!r}")
    unknown = set(item) - set(ServiceRule.__dataclass_fields__)
    if unknown:
        raise errors.bad_request(f"unknown service rule fields: {sorted(unknown)}")
    rule = ServiceRule(**{k: str(v) for k, v in item.items()})
    if rule.outcome not in SERVICE_OUTCOMES:
        raise errors.bad_request(
            f"service rule outcome must be one of {SERVICE_OUTCOMES}, got {rule.outcome!r}"
        )
    return rule
