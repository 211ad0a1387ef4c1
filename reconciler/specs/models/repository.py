"""``reconciler.yaml`` at a repository's root, and the tenancy limits it shares with the operator's
settings."""

from __future__ import annotations

from pydantic import Field, model_validator

from reconciler.specs.models.common import Name, Strict, fail_at
from reconciler.specs.models.serving import Runtime
from reconciler.specs.models.training import Backend


class TenancyLimits(Strict):
    """What the specs of one repository may ask for; None means no limit.

    ``reconciler.yaml`` sets them; the operator running the reconciler may set them too, and
    the tighter of the two applies (``reconciler.specs.rules``), so a repository can never
    loosen what it was given. How GPUs are counted: ``gpus.gpu_demand`` and docs/tenancy.md.
    """

    allowed_namespaces: list[Name] | None = Field(
        default=None, description="namespaces specs may use; unset: any"
    )
    allowed_backends: list[Backend] | None = Field(
        default=None, description="TrainingJob backends specs may use; unset: any"
    )
    allowed_runtimes: list[Runtime] | None = Field(
        default=None, description="ModelDeployment runtimes specs may use; unset: any"
    )
    max_gpus_per_spec: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="GPUs one spec may request at once (docs/tenancy.md); unset: no limit",
    )
    max_gpus_per_repository: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="GPUs all specs together may request; unset: no limit",
    )


class RepoConfig(TenancyLimits):
    """``reconciler.yaml`` at the repository root; every field optional."""

    default_namespace: Name = "default"
    ignore: list[str] = Field(default_factory=list)
    status_branch: str = "status"

    @model_validator(mode="after")
    def _default_allowed(self) -> RepoConfig:
        allowed = self.allowed_namespaces
        if allowed is not None and self.default_namespace not in allowed:
            fail_at(
                ("defaultNamespace",),
                f"{self.default_namespace!r} is not in allowedNamespaces",
                self.default_namespace,
            )
        return self
