"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

ALL_DATABASES = ["default", "secmaster"]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="correct-horse-42")


@pytest.fixture
def api_client(user) -> APIClient:
    """An API client logged in through the session, as the browser is."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
