"""Create a local administrator on first start and say how to log in."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ostsite.manage_hint import manage_command

LOGIN_FILE = Path(settings.BASE_DIR) / ".local_login"


class Command(BaseCommand):
    help = (
        "Create a local superuser if no user exists (password generated and kept in "
        ".local_login) and print the login."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin", help="Name of the user to create.")

    def handle(self, *args, username: str, **options) -> None:
        user_model = get_user_model()
        if not user_model.objects.exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            LOGIN_FILE.write_text(f"{username}\n{password}\n")
            LOGIN_FILE.chmod(0o600)
            self.stdout.write(self.style.SUCCESS(f"Created local user '{username}'."))
        if LOGIN_FILE.exists():
            name, password = (LOGIN_FILE.read_text().splitlines() + ["", ""])[:2]
            self.stdout.write(f"Log in as: {name} / {password}   (kept in {LOGIN_FILE.name})")
        else:
            self.stdout.write(
                f"Log in with an existing user; add one with '{manage_command('createsuperuser')}'."
            )
