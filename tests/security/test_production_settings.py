"""DJANGO_ENV=production: refuses unsafe configurations, switches HTTPS protections on, and
passes ``manage.py check --deploy`` with the environment the README documents.

Each case starts a fresh ``manage.py`` (settings are read once per process) with a clean
environment: nothing of this test process's configuration leaks in but the databases.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from tests.backtests.subprocesses import database_env, stop_process, wait_for

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

# 64 characters, 16+ different ones: strong by Django's rules (not a real site's key).
STRONG_KEY = "q9V-Xr4tLm2wPz8KcN6dHs1JbY7fGu3eT0aQiRo5ZkWjMnBvCxL_yEhUpAgSlDfO"
# The README's "Deploying for a team" environment (databases added per case).
DOCUMENTED = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "ost.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://ost.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
}
HOST = "ost.example.com"
PG_MAINTENANCE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
CONFIG_PREFIXES = ("DJANGO_", "OST_", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "REDIS_URL")
CONFIG_NAMES = {"DATABASE_URL", "SECMASTER_DATABASE_URL", "RUNS_DB_PATH", "SECMASTER_DB_PATH"}
REFUSED = "django.core.exceptions.ImproperlyConfigured: "
SETTINGS_DUMP = (
    "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k, None)"
    " for k in ['DEBUG', 'ALLOWED_HOSTS', 'CSRF_TRUSTED_ORIGINS', 'SESSION_COOKIE_SECURE',"
    " 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS',"
    " 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SECURE_PROXY_SSL_HEADER',"
    " 'SILENCED_SYSTEM_CHECKS']} | {'key_matches': s.SECRET_KEY == " + repr(STRONG_KEY) + "}))"
)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(CONFIG_PREFIXES) and k not in CONFIG_NAMES
    }
    return env | extra


def _sqlite_env(folder: Path) -> dict[str, str]:
    return {"RUNS_DB_PATH": str(folder / "runs.db"), "SECMASTER_DB_PATH": str(folder / "sm.db")}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _refusal(env: dict[str, str]) -> str:
    """The ImproperlyConfigured message ``manage.py check`` stops with."""
    done = _manage("check", env=env)
    assert done.returncode == 1, done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(REFUSED), done.stderr
    return last.removeprefix(REFUSED)


def _settings_of(env: dict[str, str]) -> dict:
    done = _manage("shell", "-c", SETTINGS_DUMP, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # after shell's import notice


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    return _clean_env(**DOCUMENTED, **_sqlite_env(tmp_path))


# --- refusals --------------------------------------------------------------------------

MISSING_KEY = (
    "DJANGO_ENV=production needs DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE naming a file "
    "that holds it); a generated .secret_key is for local use only"
)
WEAK_KEY = (
    "{source} is insecure: it must have at least 50 characters, 5 different ones, and not "
    "start with 'django-insecure-'; generate one with: python -c "
    '"import secrets; print(secrets.token_urlsafe(50))"'
)
ANY_HOST = (
    "ALLOWED_HOSTS must not contain '*' with DJANGO_ENV=production: it accepts any Host header; "
    "list the site's host names, e.g. ost.example.com (.example.com for a domain and its "
    "subdomains)"
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, MISSING_KEY),
        ({"DJANGO_SECRET_KEY": ""}, MISSING_KEY),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + STRONG_KEY}, WEAK_KEY),
        ({"DJANGO_SECRET_KEY": STRONG_KEY[:49]}, WEAK_KEY),  # one short of 50
        ({"DJANGO_SECRET_KEY": "abcd" * 20}, WEAK_KEY),  # 80 long, 4 different
        (
            {"DJANGO_DEBUG": "1"},
            "DJANGO_DEBUG is on with DJANGO_ENV=production: debug pages show settings and "
            "code to anyone; unset DJANGO_DEBUG or set it to 0",
        ),
        (
            {"DJANGO_DEBUG": "true"},
            "DJANGO_DEBUG is on with DJANGO_ENV=production: debug pages show settings and "
            "code to anyone; unset DJANGO_DEBUG or set it to 0",
        ),
        (
            {"ALLOWED_HOSTS": None},
            "DJANGO_ENV=production needs ALLOWED_HOSTS: the comma-separated host names of the "
            "site, e.g. ost.example.com",
        ),
        (
            {"ALLOWED_HOSTS": " , "},
            "DJANGO_ENV=production needs ALLOWED_HOSTS: the comma-separated host names of the "
            "site, e.g. ost.example.com",
        ),
        ({"ALLOWED_HOSTS": "*"}, ANY_HOST),
        ({"ALLOWED_HOSTS": "ost.example.com, *"}, ANY_HOST),
        (
            {"CSRF_TRUSTED_ORIGINS": "ost.example.com"},
            "CSRF_TRUSTED_ORIGINS entries need a scheme, e.g. https://ost.example.com; got "
            "'ost.example.com'",
        ),
        ({"DJANGO_ENV": "prod"}, "DJANGO_ENV must be one of development, production, got 'prod'"),
        ({"DJANGO_SECURE_HSTS_SECONDS": "-1"}, "DJANGO_SECURE_HSTS_SECONDS must be 0 or more"),
    ],
    ids=[
        "no key",
        "empty key",
        "django-insecure key",
        "49-character key",
        "4 distinct characters",
        "DEBUG=1",
        "DEBUG=true",
        "no ALLOWED_HOSTS",
        "blank ALLOWED_HOSTS",
        "ALLOWED_HOSTS=*",
        "* among the hosts",
        "origin without scheme",
        "unknown DJANGO_ENV",
        "negative HSTS",
    ],
)
def test_production_refuses_to_start(production, change, message):
    env = dict(production)
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    assert _refusal(env) == message.format(source="DJANGO_SECRET_KEY")


def test_production_never_generates_a_key_file(production, tmp_path):
    key_file = tmp_path / "secret"
    env = production | {"DJANGO_SECRET_KEY_FILE": str(key_file)}
    del env["DJANGO_SECRET_KEY"]
    assert _refusal(env).startswith(f"DJANGO_SECRET_KEY_FILE ({key_file}) cannot be read: ")
    assert not key_file.exists()


def test_production_refuses_weak_key_from_file(production, tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text("django-insecure-" + STRONG_KEY + "\n")
    env = production | {"DJANGO_SECRET_KEY_FILE": str(key_file)}
    del env["DJANGO_SECRET_KEY"]
    assert _refusal(env) == WEAK_KEY.format(source=f"DJANGO_SECRET_KEY_FILE ({key_file})")


def test_production_reads_key_from_a_provisioned_file(production, tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(STRONG_KEY + "\n")
    env = production | {"DJANGO_SECRET_KEY_FILE": str(key_file)}
    del env["DJANGO_SECRET_KEY"]
    assert _settings_of(env)["key_matches"] is True


# --- what production switches on -------------------------------------------------------


def test_documented_production_settings(production):
    assert _settings_of(production) == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["ost.example.com"],
        "CSRF_TRUSTED_ORIGINS": ["https://ost.example.com"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SILENCED_SYSTEM_CHECKS": ["security.W021"],
        "key_matches": True,
    }


def test_production_trusts_the_proxy_header_only_when_told(production):
    env = dict(production)
    del env["DJANGO_SECURE_PROXY_SSL_HEADER"]
    assert _settings_of(env)["SECURE_PROXY_SSL_HEADER"] is None


def test_hsts_preload_is_asked_for_only_when_chosen(production):
    chosen = _settings_of(production | {"DJANGO_SECURE_HSTS_PRELOAD": "1"})
    assert chosen["SECURE_HSTS_PRELOAD"] is True
    assert chosen["SILENCED_SYSTEM_CHECKS"] == []


def test_development_keeps_its_local_defaults(tmp_path):
    key_file = tmp_path / "local-key"
    env = _clean_env(DJANGO_SECRET_KEY_FILE=str(key_file), **_sqlite_env(tmp_path))
    values = _settings_of(env)
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert not values["SESSION_COOKIE_SECURE"] and not values["CSRF_COOKIE_SECURE"]
    assert not values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    # The generated key, kept for the next start, readable by its owner only.
    assert len(key_file.read_text()) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600


# --- check --deploy --------------------------------------------------------------------


def _database_cases(tmp_path: Path) -> dict[str, dict[str, str]]:
    """SQLite files, and PostgreSQL: this run's test databases when the suite is on it, else
    the server's maintenance database (the checks only read)."""
    pg = database_env() if connections["default"].vendor == "postgresql" else {}
    pg = pg or {"DATABASE_URL": PG_MAINTENANCE_URL, "SECMASTER_DATABASE_URL": PG_MAINTENANCE_URL}
    return {"sqlite": _sqlite_env(tmp_path), "postgresql": pg}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_check_deploy_passes_with_the_documented_environment(tmp_path, backend):
    env = _clean_env(**DOCUMENTED, **_database_cases(tmp_path)[backend])
    done = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--database",
        "default",
        "--database",
        "secmaster",
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "System check identified no issues (1 silenced)."


def test_check_deploy_fails_a_development_configuration(tmp_path):
    env = _clean_env(DJANGO_SECRET_KEY_FILE=str(tmp_path / "key"), **_sqlite_env(tmp_path))
    done = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 1
    for check in ("W004", "W008", "W012", "W016"):  # HSTS, redirect, both cookies
        assert f"(security.{check})" in done.stderr


def test_collectstatic_gathers_site_and_admin_files_for_the_web_server(production, tmp_path):
    static_root = tmp_path / "static"
    done = _manage(
        "collectstatic", "--noinput", env=production | {"DJANGO_STATIC_ROOT": str(static_root)}
    )
    assert done.returncode == 0, done.stderr
    assert (static_root / "css" / "site.css").read_bytes() == (
        Path(settings.BASE_DIR) / "static" / "css" / "site.css"
    ).read_bytes()
    assert (static_root / "js" / "api.js").is_file()
    assert (static_root / "admin" / "css" / "base.css").is_file()


# --- served by gunicorn behind a TLS proxy ---------------------------------------------


def _request(port: int, method: str, path: str, *, https: bool, **headers: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Host": HOST, **headers}
    if https:  # what the TLS-terminating proxy adds
        sent["X-Forwarded-Proto"] = "https"
    body = sent.pop("body", None)
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _cookie(response, name: str) -> str:
    return next(c for c in response.headers.get_all("Set-Cookie") if c.startswith(f"{name}="))


@pytest.mark.django_db(databases=["default", "secmaster"], transaction=True)
def test_gunicorn_serves_the_production_site_over_https_only(tmp_path, django_user_model):
    from tests.backtests.test_serve_command import free_port

    django_user_model.objects.create_user(username="alice", password="correct-horse-42")
    port = free_port()
    env = _clean_env(**DOCUMENTED, **database_env())
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ostsite.wsgi:application"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def health_ok():
            try:
                return _request(port, "GET", "/health", https=False).status == 200
            except OSError:
                return False

        wait_for(health_ok, what=f"gunicorn to answer /health (log: {log.read_text()})")

        plain = _request(port, "GET", "/backtest", https=False)
        assert (plain.status, plain.headers["Location"]) == (301, f"https://{HOST}/backtest")
        assert _request(port, "GET", "/health", https=False, Host="evil.example.com").status == 400

        form = _request(port, "GET", "/login/", https=True)
        assert form.status == 200
        assert form.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        csrf_cookie = _cookie(form, "csrftoken")
        assert "; Secure" in csrf_cookie
        token = csrf_cookie.split(";")[0].split("=", 1)[1]

        login = _request(
            port,
            "POST",
            "/login/",
            https=True,
            Origin=f"https://{HOST}",
            Cookie=f"csrftoken={token}",
            body=f"username=alice&password=correct-horse-42&csrfmiddlewaretoken={token}",
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (login.status, login.headers["Location"]) == (302, "/backtest")
        session_cookie = _cookie(login, "sessionid")
        assert "; Secure" in session_cookie and "; HttpOnly" in session_cookie

        session = session_cookie.split(";")[0]
        page = _request(port, "GET", "/backtest", https=True, Cookie=session)
        assert page.status == 200
    finally:
        stop_process(server)
