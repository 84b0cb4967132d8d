"""Who may change, cancel or delete what: one rule for the API, the pages and the admin.

Everybody logged in sees everything. Changing, cancelling or deleting an object is allowed
to the user who owns it, and to users holding Django's model permission for that action
(``<app>.<action>_<model>``: ``backtests.delete_run``, ``backtests.cancel_run``,
``secmaster.change_symbolpreset``, ``secmaster.delete_symbolpreset``; superusers hold all).
An object without an owner (made by a script, or before owners existed) needs the
permission.

An object takes part by having an ``owner_id`` attribute (the owner's user id, or None) and
a model whose app defines the permissions; runs, presets and (later) studies do. Presets
live in the security-master database, which may be another database than the users', so
they store the id (and the username, for people reading the table) instead of a foreign key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ostsite.errors import Forbidden

ACTIONS = ("change", "cancel", "delete")
NOT_ALLOWED = "{what} {ident} is not yours: to {action} it you need the permission {permission}"
NOT_ALLOWED_MANY = (
    "{what}s not yours: {idents}; to {action} them you need the permission {permission}"
)


def object_permission(obj: Any, action: str) -> str:
    """The model permission that lets a user ``action`` objects of ``obj``'s model that are
    not theirs, e.g. ``backtests.delete_run``."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    meta = obj._meta
    return f"{meta.app_label}.{action}_{meta.model_name}"


def user_may(user: Any, obj: Any, action: str) -> bool:
    """Whether ``user`` may ``action`` (change, cancel, delete) ``obj``: theirs, or they
    hold the model permission; never an anonymous or inactive user."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    owner_id = getattr(obj, "owner_id", None)
    if owner_id is not None and owner_id == user.pk:
        return True
    return user.has_perm(object_permission(obj, action))


def user_may_check(*, user: Any, obj: Any, action: str, ident: str) -> None:
    """Raise ``Forbidden`` (403) naming the object and the permission if ``user`` may not
    ``action`` ``obj``; ``ident`` is how a person names it (e.g. the run id)."""
    if not user_may(user, obj, action):
        raise Forbidden(
            NOT_ALLOWED.format(
                what=obj._meta.verbose_name,
                ident=ident,
                action=action,
                permission=object_permission(obj, action),
            )
        )


def user_may_check_all(
    *, user: Any, objects: Iterable[Any], action: str, ident: str = "pk"
) -> None:
    """``user_may_check`` for many objects at once: one ``Forbidden`` naming every object
    the user may not ``action`` (by the attribute ``ident``), so nothing is done to any."""
    objects = list(objects)
    refused = [obj for obj in objects if not user_may(user, obj, action)]
    if not refused:
        return
    first = refused[0]
    if len(objects) == 1:
        user_may_check(user=user, obj=first, action=action, ident=str(getattr(first, ident)))
    raise Forbidden(
        NOT_ALLOWED_MANY.format(
            what=first._meta.verbose_name,
            action=action,
            permission=object_permission(first, action),
            idents=", ".join(str(getattr(obj, ident)) for obj in refused),
        )
    )
