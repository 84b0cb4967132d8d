"""How to spell a ``manage.py`` command for the person reading a hint.

Hints on pages and in command output name the interpreter this site runs with, as the README
does (``.venv/bin/python manage.py ...``): a bare ``python`` outside the virtual environment
lacks the project's packages and fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings


def manage_command(arguments: str) -> str:
    """``<python> manage.py <arguments>``, ``<python>`` relative to the project folder when
    the interpreter lives inside it (``.venv/bin/python``), else its absolute path."""
    python = Path(sys.executable)
    try:
        shown = python.relative_to(Path(settings.BASE_DIR))
    except ValueError:
        shown = python
    return f"{shown} manage.py {arguments}"
