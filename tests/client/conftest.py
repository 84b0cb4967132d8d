"""The notebook client's tests use the browser tests' market data and real worker."""

from tests.e2e.conftest import market, worker  # noqa: F401 (fixtures)
