"""Password hashing for the test process: Django's PBKDF2 at 1,000 iterations instead of
about a million. Hashing a password costs ~0.5 s of CPU at the default, and the suite creates
and logs in users in hundreds of tests. The hashes keep Django's format (the iteration count is
part of each), so the site's processes that tests start (live servers in subprocesses,
gunicorn, workers) still verify them with their default hashers."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1_000
