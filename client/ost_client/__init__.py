"""Notebook client of the OneSecondTrader workbench's JSON API (see ``Client``)."""

from ost_client.client import Client, Comparison, OstError, RunFailed

__all__ = ["Client", "Comparison", "OstError", "RunFailed"]
__version__ = "0.1.0"
