"""Which strategies exist: the built-in examples plus user files discovered on disk.

Strategy and indicator classes register themselves when their class statement runs, so
discovering user code means importing the ``*.py`` files of the configured folders.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path

from backtests.engine.strategies.base import StrategyBase, strategy_classes


def strategy_registry() -> dict[str, type[StrategyBase]]:
    """Strategy id (class name) -> class, sorted by id, built-in examples included."""
    import backtests.engine.strategies.examples  # noqa: F401  (registers the examples)

    return dict(sorted(strategy_classes().items()))


def get_strategy(strategy_id: str) -> type[StrategyBase]:
    """The strategy class with this id; ``KeyError`` lists the known ids otherwise."""
    registry = strategy_registry()
    try:
        return registry[strategy_id]
    except (KeyError, TypeError):
        raise KeyError(f"unknown strategy {strategy_id!r}; known: {', '.join(registry)}") from None


def discover_user_code(*, strategies_dir: Path | None, indicators_dir: Path | None) -> list[str]:
    """Import the ``*.py`` files of both folders (indicators first, files sorted by name).

    Files starting with ``_`` are skipped; a missing folder is not an error. A file that
    fails to import yields one message ("path: ErrorType: detail") and is left out; files
    already imported from the same path are not imported again. Each module is also
    reachable as ``user_indicators.<stem>`` / ``user_strategies.<stem>``, so a strategy file
    can ``from user_indicators.my_file import MyIndicator``.
    """
    errors: list[str] = []
    for kind, folder in (("indicators", indicators_dir), ("strategies", strategies_dir)):
        if folder is None:
            continue
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            message = _import_file(kind, path)
            if message is not None:
                errors.append(message)
    return errors


def _module_name(kind: str, path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"ost_user_{kind}_{stem}_{digest}"


def _import_file(kind: str, path: Path) -> str | None:
    name = _module_name(kind, path)
    if name in sys.modules:
        return None
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return f"{path}: cannot be imported as a Python module"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # one broken user file must not stop the others
        sys.modules.pop(name, None)
        return f"{path}: {type(exc).__name__}: {exc}"
    return _alias(kind, path, module)


def _alias(kind: str, path: Path, module: types.ModuleType) -> str | None:
    package_name = f"user_{kind}"
    package = sys.modules.get(package_name)
    if package is None:
        package = types.ModuleType(package_name, f"User {kind} discovered at start-up")
        package.__path__ = []
        sys.modules[package_name] = package
    alias = f"{package_name}.{path.stem}"
    existing = sys.modules.get(alias)
    if existing is not None and existing is not module:
        return f"{path}: name clash: {alias} is already {getattr(existing, '__file__', '?')}"
    sys.modules[alias] = module
    setattr(package, path.stem, module)
    return None
