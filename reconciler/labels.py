"""Labels and annotations every managed object carries (DESIGN.md, "Objects in the cluster")."""

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "reconciler"
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER}"
# Which installation applied an object (a label, so watches select only their own) and the
# Argo-CD-style tracking id naming that installation and the object itself (an annotation):
# ``<instance>:<group>/<Kind>:<namespace>/<name>``. Copying it onto another object does not
# make that object ours, since the id names where it belongs.
INSTANCE = "mlops/instance"
TRACKING_ID = "mlops/tracking-id"

SPEC_KIND = "mlops/spec-kind"
SPEC_NAME = "mlops/spec-name"
SPEC_NAMESPACE = "mlops/spec-namespace"
RUN_HASH = "mlops/run-hash"
PIPELINE_STEP = "mlops/pipeline-step"
SWEEP = "mlops/sweep"  # the sweep id of a trial run (docs/sweeps.md)
ROLE = "mlops/role"

SPEC_HASH = "mlops/spec-hash"
SOURCE_COMMIT = "mlops/source-commit"
MODEL_URI = "mlops/model-uri"

FIELD_MANAGER = "reconciler"
OUTPUT_URI = "mlops/output-uri"
SOURCE_PATH = "mlops/source-path"
OUTPUTS = "mlops/outputs"
STABLE_MODEL_URI = "mlops/stable-model-uri"
CANARY_MODEL_URI = "mlops/canary-model-uri"
# The canary's share of traffic while an analysis steps it (docs/progressive-delivery.md).
CANARY_TRAFFIC = "mlops/canary-traffic"
CREATED_AT = "mlops/created-at"
TRIAL = "mlops/trial"  # JSON: a trial run's index, parameters and objective
