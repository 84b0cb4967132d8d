"""Which strategies exist: the built-in examples plus user files discovered on disk.

Strategy and indicator classes register themselves when their class statement runs, so
discovering user code means importing the ``*.py`` files of the configured folders.

User files are watched by content, not imported once: every ``discover_user_code`` call (the
service layer makes one whenever strategies are listed or a run is validated or starts) reads
the folders and

- imports a file that is new, or whose bytes changed since it was last imported or tried;
- re-imports every strategy file as well when an indicator file changed (they may import it);
- forgets a file that disappeared, with the strategies it defined;
- imports a file again whose strategies are no longer registered (another file defined a
  class of the same name, then disappeared).

A file that raises while importing (any exception, ``SyntaxError`` and ``SystemExit``
included) is left out: the strategies it defined before are unregistered, so a run never uses
stale code, and ``user_code_failure`` returns its error and traceback (trimmed to start in the
user's file) for the strategy ids it defined or had defined. An unchanged broken file is not
tried again until it changes. Nothing here stops the process: the caller decides (the site
lists the failure, a run of such a strategy ends ``failed`` with the traceback).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from backtests.engine.strategies.base import StrategyBase, _strategy_classes, strategy_classes

KINDS = ("indicators", "strategies")


@dataclass(frozen=True)
class UserCodeFailure:
    """A user file that failed to import: what it raised and where."""

    path: Path
    error: str  # "ErrorType: detail"
    traceback: str  # starts at the user's file when it has a frame there
    strategy_ids: tuple[str, ...]  # strategies the file defined (or had defined before)

    @property
    def message(self) -> str:
        return f"{self.path}: {self.error}"


@dataclass
class _UserFile:
    kind: str
    digest: str
    module_name: str
    strategy_ids: tuple[str, ...]
    failure: UserCodeFailure | None


_files: dict[Path, _UserFile] = {}


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
    """Bring both folders' ``*.py`` files up to date (see the module docstring); returns one
    message ("path: ErrorType: detail") per file of these folders that is not loaded.

    Indicators come first, files sorted by name; files starting with ``_`` are skipped; a
    missing folder is not an error. Each module is also reachable as
    ``user_indicators.<stem>`` / ``user_strategies.<stem>``, so a strategy file can
    ``from user_indicators.my_file import MyIndicator``.
    """
    failures: list[str] = []
    indicators_changed = False
    for kind, folder in (("indicators", indicators_dir), ("strategies", strategies_dir)):
        if folder is None:
            continue
        folder = Path(folder)
        paths = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
        for gone in [p for p, f in _files.items() if f.kind == kind and p.parent == folder]:
            if gone not in paths:
                _forget(gone)
                indicators_changed |= kind == "indicators"
        for path in paths:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue  # removed or unreadable right now; looked at again next time
            known = _files.get(path)
            stale = (
                known is None
                or known.digest != digest
                or (known.failure is None and known.module_name not in sys.modules)
                # another file defined the same class name and has since been forgotten
                or (
                    known.failure is None
                    and any(sid not in _strategy_classes for sid in known.strategy_ids)
                )
                or (kind == "strategies" and indicators_changed)
            )
            if stale:
                _import_file(kind, path, digest)
                indicators_changed |= kind == "indicators"
            failure = _files[path].failure
            if failure is not None:
                failures.append(failure.message)
    return failures


def user_code_failure(strategy_id: str) -> UserCodeFailure | None:
    """Why ``strategy_id`` is missing, if a user file that defines it failed to import."""
    if strategy_id in _strategy_classes:
        return None
    for user_file in _files.values():
        if user_file.failure is not None and strategy_id in user_file.strategy_ids:
            return user_file.failure
    return None


def user_code_failures() -> list[UserCodeFailure]:
    """Every user file currently not loaded, in path order."""
    return [f.failure for _, f in sorted(_files.items()) if f.failure is not None]


def _module_name(kind: str, path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"ost_user_{kind}_{stem}_{digest}"


def _defined_by(module_name: str) -> tuple[str, ...]:
    return tuple(
        sorted(sid for sid, cls in _strategy_classes.items() if cls.__module__ == module_name)
    )


def _unregister(module_name: str) -> tuple[str, ...]:
    ids = _defined_by(module_name)
    for strategy_id in ids:
        del _strategy_classes[strategy_id]
    return ids


def _forget(path: Path) -> None:
    user_file = _files.pop(path)
    _unregister(user_file.module_name)
    _drop_module(user_file.kind, path, user_file.module_name)


def _drop_module(kind: str, path: Path, module_name: str) -> None:
    module = sys.modules.pop(module_name, None)
    alias = f"user_{kind}.{path.stem}"
    if module is not None and sys.modules.get(alias) is module:
        del sys.modules[alias]
        package = sys.modules.get(f"user_{kind}")
        if package is not None and getattr(package, path.stem, None) is module:
            delattr(package, path.stem)


def _import_file(kind: str, path: Path, digest: str) -> None:
    name = _module_name(kind, path)
    previous = _files.get(path)
    before = _unregister(name) or (previous.strategy_ids if previous else ())
    _drop_module(kind, path, name)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # one broken user file must not stop the others
        sys.modules.pop(name, None)
        ids = tuple(sorted({*before, *_unregister(name)}))
        failure = UserCodeFailure(
            path=path,
            error=f"{type(exc).__name__}: {exc}",
            traceback=_user_traceback(exc, path),
            strategy_ids=ids,
        )
        _files[path] = _UserFile(kind, digest, name, ids, failure)
        return
    ids = _defined_by(name)
    clash = _alias(kind, path, module)  # reported; the file's strategies stay usable
    failure = None
    if clash is not None:
        failure = UserCodeFailure(path=path, error=clash, traceback=clash, strategy_ids=())
    _files[path] = _UserFile(kind, digest, name, ids, failure)


def _user_traceback(exc: BaseException, path: Path) -> str:
    """The exception's traceback from the first frame in ``path`` on (import machinery cut)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    # No frame in the file (a SyntaxError): its message already names the file and line.
    return "".join(traceback.format_exception(type(exc), exc, tb))


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
        return f"name clash: {alias} is already {getattr(existing, '__file__', '?')}"
    sys.modules[alias] = module
    setattr(package, path.stem, module)
    return None
