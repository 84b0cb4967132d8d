"""Database router: the security master lives in the "secmaster" alias, all else in "default"."""

from __future__ import annotations

SECMASTER_ALIAS = "secmaster"
SECMASTER_APPS = frozenset({"secmaster"})


class AppDatabaseRouter:
    """Send each app's reads, writes and migrations to its own database alias."""

    def _alias_for(self, app_label: str) -> str:
        return SECMASTER_ALIAS if app_label in SECMASTER_APPS else "default"

    def db_for_read(self, model, **hints) -> str:
        return self._alias_for(model._meta.app_label)

    def db_for_write(self, model, **hints) -> str:
        return self._alias_for(model._meta.app_label)

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return self._alias_for(obj1._meta.app_label) == self._alias_for(obj2._meta.app_label)

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool:
        return db == self._alias_for(app_label)
