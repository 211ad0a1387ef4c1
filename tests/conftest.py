import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_logging():
    """Commands run in-process configure structlog globally; no test may see another's set-up."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
