"""Strategy parameter specifications: defaults, bounds, choices, coercion and schema."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ParamError(ValueError):
    """A parameter value (or name) that a strategy does not accept."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _is_unicode(text: str) -> bool:
    """Whether ``text`` can be stored and shown (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A JSON-friendly form: enum members as their NAME."""
    return value.name if isinstance(value, enum.Enum) else value


@dataclass(frozen=True)
class ParamSpec:
    """A tunable strategy parameter. The type comes from ``default``.

    An Enum default implies all members of its enum as choices.
    """

    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.choices is not None and not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))
        if not isinstance(self.default, (bool, int, float, str, enum.Enum)):
            raise TypeError(
                f"ParamSpec default must be bool, int, float, str or Enum, got {self.default!r}"
            )

    def type_name(self) -> str:
        """``"bool"``, ``"int"``, ``"float"``, ``"str"`` or ``"enum"``."""
        d = self.default
        if isinstance(d, enum.Enum):
            return "enum"
        if isinstance(d, bool):
            return "bool"
        if isinstance(d, int):
            return "int"
        if isinstance(d, float):
            return "float"
        return "str"

    def resolved_choices(self) -> tuple[Any, ...] | None:
        if self.choices is not None:
            return self.choices
        if isinstance(self.default, enum.Enum):
            return tuple(type(self.default))
        return None

    def coerce(self, name: str, raw: Any) -> Any:
        """Turn a JSON value or a command-line string into the parameter's type.

        Raises ``ParamError`` naming the parameter for a wrong type, a value out of
        [min, max] or not among the choices.
        """
        kind = self.type_name()
        value = getattr(self, f"_to_{kind}")(name, raw)
        if kind in ("int", "float"):
            self._check_range(name, value)
        choices = self.resolved_choices()
        if choices is not None and value not in choices:
            names = ", ".join(str(_plain(c)) for c in choices)
            raise ParamError(name, f"must be one of {names}; got {_plain(raw)!r}")
        return value

    def to_schema(self, name: str) -> dict[str, Any]:
        """The JSON description a form or the API shows; enums as member NAMES."""
        choices = self.resolved_choices()
        return {
            "name": name,
            "type": self.type_name(),
            "default": _plain(self.default),
            "min": self.min,
            "max": self.max,
            "step": self.step,
            "choices": None if choices is None else [_plain(c) for c in choices],
        }

    # --- coercion per type -------------------------------------------------------------

    def _to_bool(self, name: str, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ParamError(name, f"expected a boolean (true or false), got {raw!r}")

    def _to_int(self, name: str, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ParamError(name, f"expected an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        number: float | None = None
        if isinstance(raw, float):
            number = raw
        elif isinstance(raw, str) and raw.isascii():  # int("١") is 1: ASCII digits only
            text = raw.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    number = None
        if number is not None and math.isfinite(number) and number.is_integer():
            return int(number)
        raise ParamError(name, f"expected an integer, got {raw!r}")

    def _to_float(self, name: str, raw: Any) -> float:
        number: float | None = None
        try:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                number = float(raw)
            elif isinstance(raw, str) and raw.isascii():  # float("١") is 1.0: ASCII only
                number = float(raw.strip())
        except (ValueError, OverflowError):  # not a number; an integer beyond any float
            number = None
        if number is None or not math.isfinite(number):
            raise ParamError(name, f"expected a finite number, got {raw!r}")
        return number

    def _to_str(self, name: str, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ParamError(name, f"expected a string, got {raw!r}")
        if "\x00" in raw:  # PostgreSQL cannot store it in the run's JSON config
            raise ParamError(name, f"expected a string without NUL characters, got {raw!r}")
        if not _is_unicode(raw):  # a lone surrogate (e.g. from a command line's bad bytes)
            raise ParamError(name, f"expected valid Unicode text, got {raw!r}")
        return raw

    def _to_enum(self, name: str, raw: Any) -> enum.Enum:
        enum_type = type(self.default)
        if isinstance(raw, enum_type):
            return raw
        if isinstance(raw, str):
            wanted = raw.strip().upper()
            for member in enum_type:
                if member.name.upper() == wanted:
                    return member
        names = ", ".join(m.name for m in (self.resolved_choices() or enum_type))
        raise ParamError(name, f"must be one of {names}; got {raw!r}")

    def _check_range(self, name: str, value: float) -> None:
        low, high = self.min, self.max
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                raise ParamError(name, f"must be between {low} and {high}, got {value}")
            if low is not None:
                raise ParamError(name, f"must be >= {low}, got {value}")
            raise ParamError(name, f"must be <= {high}, got {value}")
