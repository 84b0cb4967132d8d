"""Create, update and delete symbol presets (named symbol lists for quick backtest set-up).

Rules, shared by the API and the admin form:

- ``name``: a string, stripped of surrounding whitespace, then 1..PRESET_NAME_MAX_LENGTH
  characters. Inner spaces, '/', and any Unicode are kept; names are case-sensitive.
- ``symbols``: a list of 1..PRESET_MAX_SYMBOLS strings. Each is stripped of surrounding
  whitespace (case is kept: symbols are case-sensitive at Databento), must then be
  1..SYMBOL_MAX_LENGTH characters, and may appear only once: a repeated symbol is refused
  (400) rather than silently dropped, so the caller learns about the typo. Order is kept.
- No NUL characters anywhere (PostgreSQL cannot store them).

Every write runs in one transaction on the secmaster database: a refused request changes nothing.

Owners: a preset made through the API or the admin belongs to its creator. Given ``user``,
updates and deletes follow ``ostsite.permissions`` (theirs, or the permission
``secmaster.change_symbolpreset`` / ``secmaster.delete_symbolpreset``; 403 otherwise).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from ostsite.errors import Conflict, InvalidInput, NotFound
from ostsite.permissions import user_may_check
from secmaster.models import SymbolPreset
from secmaster.selectors import PRESET_NOT_FOUND
from secmaster.symbol_rules import SYMBOL_MAX_LENGTH

SECMASTER_DB = "secmaster"

PRESET_NAME_MAX_LENGTH = 200
PRESET_MAX_SYMBOLS = 10_000

NAME_NOT_STRING = "The name must be a string."
NAME_BLANK = "The name must not be empty or blank."
NAME_TOO_LONG = f"The name must be at most {PRESET_NAME_MAX_LENGTH} characters."
NAME_HAS_NUL = "The name must not contain NUL characters."
NAME_MISMATCH = "The name in the body must match the preset in the URL (renaming is not supported)."
SYMBOLS_NOT_LIST = "Symbols must be a list of strings."
SYMBOLS_EMPTY = "Symbols must name at least one symbol."
SYMBOLS_TOO_MANY = f"Symbols must name at most {PRESET_MAX_SYMBOLS} symbols."
SYMBOL_NOT_STRING = "Symbol #{index} is not a string."
SYMBOL_BLANK = "Symbol #{index} is empty or blank."
SYMBOL_TOO_LONG = f"Symbol #{{index}} is longer than {SYMBOL_MAX_LENGTH} characters."
SYMBOL_HAS_NUL = "Symbol #{index} contains a NUL character."
SYMBOL_DUPLICATE = "Symbol {symbol!r} appears more than once."
PRESET_EXISTS = "A preset named {name!r} already exists."


def preset_name_clean(name: object) -> str:
    """The stripped preset name; raises InvalidInput (field ``name``) when it breaks a rule."""
    if not isinstance(name, str):
        raise InvalidInput(NAME_NOT_STRING, fields={"name": NAME_NOT_STRING})
    cleaned = name.strip()
    for broken, message in (
        (not cleaned, NAME_BLANK),
        (len(cleaned) > PRESET_NAME_MAX_LENGTH, NAME_TOO_LONG),
        ("\x00" in cleaned, NAME_HAS_NUL),
    ):
        if broken:
            raise InvalidInput(message, fields={"name": message})
    return cleaned


def preset_symbols_clean(symbols: object) -> list[str]:
    """The stripped symbol list; raises InvalidInput (field ``symbols``) when it breaks a rule.

    Symbols are numbered from 1 in messages, as a person counts them.
    """

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(message, fields={"symbols": message})

    if not isinstance(symbols, list | tuple):
        raise refuse(SYMBOLS_NOT_LIST)
    if not symbols:
        raise refuse(SYMBOLS_EMPTY)
    if len(symbols) > PRESET_MAX_SYMBOLS:
        raise refuse(SYMBOLS_TOO_MANY)
    cleaned: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(symbols, start=1):
        if not isinstance(raw, str):
            raise refuse(SYMBOL_NOT_STRING.format(index=index))
        symbol = raw.strip()
        if not symbol:
            raise refuse(SYMBOL_BLANK.format(index=index))
        if len(symbol) > SYMBOL_MAX_LENGTH:
            raise refuse(SYMBOL_TOO_LONG.format(index=index))
        if "\x00" in symbol:
            raise refuse(SYMBOL_HAS_NUL.format(index=index))
        if symbol in seen:
            raise refuse(SYMBOL_DUPLICATE.format(symbol=symbol))
        seen.add(symbol)
        cleaned.append(symbol)
    return cleaned


def preset_owner_fields(owner: Any) -> dict[str, Any]:
    """The owner columns of a preset made by ``owner`` (a user, or None)."""
    if owner is None or not getattr(owner, "is_authenticated", False):
        return {"owner_id": None, "owner_username": ""}
    return {"owner_id": owner.pk, "owner_username": owner.get_username()}


@transaction.atomic(using=SECMASTER_DB)
def preset_create(*, name: str, symbols: list[str], owner: Any = None) -> SymbolPreset:
    """Create a preset owned by ``owner`` (a user, or None); Conflict if the (stripped) name
    is taken."""
    name = preset_name_clean(name)
    symbols = preset_symbols_clean(symbols)
    message = PRESET_EXISTS.format(name=name)
    conflict = Conflict(message, fields={"name": message})
    if SymbolPreset.objects.filter(name=name).exists():
        raise conflict
    try:
        with transaction.atomic(using=SECMASTER_DB):
            return SymbolPreset.objects.create(
                name=name, symbols=symbols, **preset_owner_fields(owner)
            )
    except IntegrityError:  # created by a concurrent request since the check above
        raise conflict from None


def _preset_for(name: str, user: Any, action: str) -> SymbolPreset:
    """The preset called ``name``, locked for this transaction (NotFound if none); with a
    ``user``, one they may ``action`` (Forbidden otherwise)."""
    preset = None
    if "\x00" not in name:
        preset = SymbolPreset.objects.select_for_update().filter(name=name).first()
    if preset is None:
        raise NotFound(PRESET_NOT_FOUND)
    if user is not None:
        user_may_check(user=user, obj=preset, action=action, ident=repr(name))
    return preset


@transaction.atomic(using=SECMASTER_DB)
def preset_update(
    *, name: str, symbols: list[str], body_name: str | None = None, user: Any = None
) -> SymbolPreset:
    """Replace the symbols of the preset called ``name``; NotFound if there is none, and
    given ``user``, Forbidden unless they may change it.

    ``body_name`` is the name the request body repeats, if any: it must be ``name`` (after
    stripping), since a preset cannot be renamed.
    """
    if body_name is not None and preset_name_clean(body_name) != name:
        raise InvalidInput(NAME_MISMATCH, fields={"name": NAME_MISMATCH})
    symbols = preset_symbols_clean(symbols)
    preset = _preset_for(name, user, "change")
    preset.symbols = symbols
    preset.save(update_fields=["symbols"])
    return preset


@transaction.atomic(using=SECMASTER_DB)
def preset_delete(*, name: str, user: Any = None) -> None:
    """Delete the preset called ``name``; NotFound if there is none, and given ``user``,
    Forbidden unless they may delete it."""
    _preset_for(name, user, "delete").delete()


def presets_disown(*, user_id: int) -> int:
    """The presets of a deleted user become ownerless (so a later user given the same id
    does not inherit them); returns how many."""
    return SymbolPreset.objects.filter(owner_id=user_id).update(owner_id=None)


def presets_disown_on_user_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` receiver of the user model (see ``presets_disown``)."""
    presets_disown(user_id=instance.pk)
