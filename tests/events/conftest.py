from tests.loop.conftest import loop  # noqa: F401 - the running loop of tests/loop
