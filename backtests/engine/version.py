"""The engine's version, written into every export manifest.

Raise ``ENGINE_VERSION`` whenever a change can alter what a run records (fills, orders,
accounting); a manifest's ``engine.version`` then tells which engine produced an export.
The default fill rules reproduce ``FILLS_COMPATIBLE_WITH``'s fills.
"""

ENGINE_VERSION = "1.0.0"
FILLS_COMPATIBLE_WITH = "OneSecondTrader 0.75"
