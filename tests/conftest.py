import pytest
import structlog

from tests.cluster.fixtures import (  # noqa: F401 - fixtures and hooks every suite shares
    cluster,
    pytest_collection_modifyitems,
    pytest_configure,
    real_cluster,
    real_cluster_boot,
    sandbox_crds,
)


@pytest.fixture(autouse=True)
def _fresh_logging():
    """Commands run in-process configure structlog globally; no test may see another's set-up."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
