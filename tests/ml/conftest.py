import pytest

from tests.loop.conftest import loop, sandbox  # noqa: F401 - the same fixtures as the loop tests

__all__ = ["pytest"]
