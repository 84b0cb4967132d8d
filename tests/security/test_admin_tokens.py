"""API tokens are created and revoked by an administrator in the admin (DRF's TokenProxy)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

TOKENS = "/admin/authtoken/tokenproxy/"


@pytest.fixture
def admin_browser(django_user_model) -> Client:
    boss = django_user_model.objects.create_superuser(username="boss", password="pw-123456")
    browser = Client()
    browser.force_login(boss)
    return browser


def _script(key: str) -> APIClient:
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return script


def test_tokens_are_listed_in_the_admin_index(admin_browser):
    response = admin_browser.get("/admin/")
    assert response.status_code == 200
    assert f'href="{TOKENS}"'.encode() in response.content
    assert admin_browser.get(f"{TOKENS}add/").status_code == 200


def test_token_created_in_admin_opens_the_api_and_deleting_it_revokes_it(admin_browser, user):
    created = admin_browser.post(f"{TOKENS}add/", {"user": user.pk})
    assert (created.status_code, created["Location"]) == (302, TOKENS)
    key = Token.objects.get(user=user).key
    assert len(key) == 40

    listing = admin_browser.get(TOKENS)
    assert key.encode() in listing.content and b"alice" in listing.content

    assert _script(key).get("/api/presets").json() == {"presets": []}
    assert _script(key).post("/api/presets", {"name": "t", "symbols": ["A"]}).status_code == 201

    # The admin addresses a token by its user's id.
    confirm = admin_browser.get(f"{TOKENS}{user.pk}/delete/")
    assert confirm.status_code == 200 and key.encode() in confirm.content
    deleted = admin_browser.post(f"{TOKENS}{user.pk}/delete/", {"post": "yes"})
    assert (deleted.status_code, deleted["Location"]) == (302, TOKENS)
    assert not Token.objects.filter(user=user).exists()

    refused = _script(key).get("/api/presets")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"


def test_a_new_token_after_revocation_is_a_different_key(admin_browser, user):
    admin_browser.post(f"{TOKENS}add/", {"user": user.pk})
    old = Token.objects.get(user=user).key
    admin_browser.post(f"{TOKENS}{user.pk}/delete/", {"post": "yes"})
    admin_browser.post(f"{TOKENS}add/", {"user": user.pk})
    new = Token.objects.get(user=user).key
    assert new != old
    assert _script(old).get("/api/presets").status_code == 401
    assert _script(new).get("/api/presets").status_code == 200


def test_second_token_for_the_same_user_is_refused_with_a_message(admin_browser, user):
    first = Token.objects.create(user=user).key
    response = admin_browser.post(f"{TOKENS}add/", {"user": user.pk})
    assert response.status_code == 200  # the form again, with the error
    assert b"already exists" in response.content
    assert list(Token.objects.values_list("key", flat=True)) == [first]


def test_staff_without_token_permissions_cannot_manage_tokens(django_user_model, user):
    clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
    browser = Client()
    browser.force_login(clerk)
    assert browser.get(TOKENS).status_code == 403
    assert browser.post(f"{TOKENS}add/", {"user": user.pk}).status_code == 403
    assert not Token.objects.exists()
