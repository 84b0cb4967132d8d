from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class SiteAdminConfig(AdminConfig):
    """Django's admin with the site's own AdminSite (throttled login)."""

    default_site = "ostsite.admin_site.SiteAdmin"


class SiteConfig(AppConfig):
    """The site's own behaviour around Django's auth: tokens revoked on a password change,
    presets disowned when their user is deleted."""

    name = "ostsite"
    verbose_name = "Site"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from ostsite.auth_tokens import tokens_revoke_on_password_change
        from secmaster.services.presets import presets_disown_on_user_delete

        user_model = get_user_model()
        post_save.connect(
            tokens_revoke_on_password_change,
            sender=user_model,
            dispatch_uid="ostsite.tokens_revoke_on_password_change",
        )
        post_delete.connect(
            presets_disown_on_user_delete,
            sender=user_model,
            dispatch_uid="ostsite.presets_disown_on_user_delete",
        )
