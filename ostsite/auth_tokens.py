"""API tokens: a user rotates or revokes their own; a password change revokes them all.

DRF keeps one token per user (``rest_framework.authtoken``). ``POST /api/auth/token`` hands
out that token (creating it on first use), so asking again gives the same key. To change a
key that may have leaked, its user rotates it (``token_rotate``: the old key stops working
at once, a new one is returned) or revokes it (``token_revoke``). Changing a password revokes
the user's token: whoever had it must log in with the new password to get a new key.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def token_rotate(*, user: Any) -> Token:
    """Replace ``user``'s token by a new one (the old key is refused from now on)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def token_revoke(*, user: Any) -> int:
    """Delete ``user``'s token; how many were deleted (0 or 1)."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


def tokens_revoke_on_password_change(
    sender: Any, instance: Any, created: bool = False, **kwargs: Any
) -> None:
    """``post_save`` receiver of the user model: a saved password change (``set_password``
    then ``save``, as the admin, ``changepassword`` and the password views do) revokes the
    user's token. A hasher upgrade at login is not a change and keeps it."""
    if not created and getattr(instance, "_password", None) is not None:
        token_revoke(user=instance)
