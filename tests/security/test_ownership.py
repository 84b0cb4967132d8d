"""Who may do what (issue 12, item 6): everybody sees everything; cancelling and deleting a
run, and changing and deleting a preset, is for its owner or for users holding Django's model
permission; objects without an owner need the permission. One rule (ostsite/permissions.py)
for the API, the pages (through the API's can_* flags) and the admin.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from backtests.models import Fill, Run, RunStatus
from ostsite.permissions import NOT_ALLOWED, NOT_ALLOWED_MANY
from secmaster.models import SymbolPreset
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row, run_with_one_trade

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def people(django_user_model) -> dict:
    """alice and bob (plain users), a superuser root, and an API client for each."""
    users = {
        "alice": django_user_model.objects.create_user(username="alice", password=PASSWORD),
        "bob": django_user_model.objects.create_user(username="bob", password=PASSWORD),
        "root": django_user_model.objects.create_superuser(username="root", password=PASSWORD),
    }
    clients = {}
    for name, user in users.items():
        clients[name] = APIClient()
        clients[name].force_authenticate(user)
    return {"users": users, "clients": clients}


def grant(user, codename: str) -> None:
    user.user_permissions.add(Permission.objects.get(codename=codename))


def refused(response, message: str) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {"error": message}


def not_yours(what: str, ident: str, action: str, permission: str) -> str:
    return NOT_ALLOWED.format(what=what, ident=ident, action=action, permission=permission)


# --- runs through the API --------------------------------------------------------------------


def test_others_run_is_seen_but_neither_cancelled_nor_deleted_by_a_plain_user(people):
    alice = people["users"]["alice"]
    bob = people["clients"]["bob"]
    run_with_one_trade("hers", owner=alice)
    run_row("busy", status=RunStatus.RUNNING, owner=alice)

    listed = {r["run_id"]: r for r in bob.get("/api/runs").json()["runs"]}
    assert {k: listed["hers"][k] for k in ("owner", "can_cancel", "can_delete")} == {
        "owner": "alice",
        "can_cancel": False,
        "can_delete": False,
    }
    assert bob.get("/api/runs/hers/roundtrips").status_code == 200  # sees everything

    response = bob.delete("/api/runs", {"run_ids": ["hers"]}, format="json")
    refused(response, not_yours("run", "hers", "delete", "backtests.delete_run"))
    response = bob.post("/api/backtest/busy/cancel")
    refused(response, not_yours("run", "busy", "cancel", "backtests.cancel_run"))
    assert set(Run.objects.values_list("run_id", "status")) == {
        ("hers", "completed"),
        ("busy", "running"),
    }
    assert Fill.objects.filter(run_id="hers").count() == 2

    mine = {r["run_id"]: r for r in people["clients"]["alice"].get("/api/runs").json()["runs"]}
    assert (mine["hers"]["can_cancel"], mine["hers"]["can_delete"]) == (True, True)


def test_deleting_a_list_with_runs_of_others_deletes_nothing_and_names_them(people):
    alice, bob = people["users"]["alice"], people["users"]["bob"]
    run_row("b1", owner=bob)
    run_row("a1", owner=alice)
    run_row("a2", owner=alice)
    run_row("legacy")  # from before owners existed

    response = people["clients"]["bob"].delete(
        "/api/runs", {"run_ids": ["b1", "a2", "a1", "legacy", "unknown"]}, format="json"
    )
    refused(
        response,
        NOT_ALLOWED_MANY.format(
            what="run", idents="a1, a2, legacy", action="delete", permission="backtests.delete_run"
        ),
    )
    assert Run.objects.count() == 4
    response = people["clients"]["bob"].delete(
        "/api/runs", {"run_ids": ["b1", "unknown"]}, format="json"
    )
    assert response.json() == {"deleted": 1}


def test_model_permissions_let_a_user_cancel_and_delete_others_runs(people):
    alice, bob = people["users"]["alice"], people["users"]["bob"]
    run_row("busy", status=RunStatus.RUNNING, owner=alice)
    run_row("legacy")
    grant(bob, "cancel_run")
    grant(bob, "delete_run")
    client = people["clients"]["bob"]
    assert client.post("/api/backtest/busy/cancel").json()["status"] == "cancelling"
    response = client.delete("/api/runs", {"run_ids": ["busy", "legacy"]}, format="json")
    assert response.json() == {"deleted": 2}


def test_runs_without_an_owner_need_the_permission_which_superusers_hold(people):
    run_row("legacy")
    assert people["clients"]["alice"].get("/api/runs").json()["runs"][0]["can_delete"] is False
    refused(
        people["clients"]["alice"].delete("/api/runs", {"run_ids": ["legacy"]}, format="json"),
        not_yours("run", "legacy", "delete", "backtests.delete_run"),
    )
    root = people["clients"]["root"]
    assert root.get("/api/runs").json()["runs"][0]["can_delete"] is True
    assert root.delete("/api/runs", {"run_ids": ["legacy"]}, format="json").json() == {"deleted": 1}


def test_a_submitted_run_belongs_to_who_submitted_it(people, tmp_path):
    publisher = ingest_bars(
        tmp_path,
        bars=minute_bars(10, "2024-01-02T14:30", 30),
        mappings={"AAPL": [("2024-01-02", "2024-01-10", 10)]},
    )
    body = {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher,
    }
    run_id = (
        people["clients"]["bob"].post("/api/backtest/run", body, format="json").json()["run_id"]
    )
    assert Run.objects.get(run_id=run_id).owner == people["users"]["bob"]
    running = people["clients"]["bob"].get("/api/backtest/running").json()["runs"]
    assert [(r["owner"], r["can_cancel"], r["can_delete"]) for r in running] == [
        ("bob", True, True)
    ]


def test_run_backtest_command_takes_an_owner_by_username(people, tmp_path):
    ingest_bars(
        tmp_path,
        bars=minute_bars(10, "2024-01-02T14:30", 30),
        mappings={"AAPL": [("2024-01-02", "2024-01-10", 10)]},
    )
    args = ["--strategy", "SMACrossover", "--symbols", "AAPL", "--bar-period", "MINUTE"]
    args += ["--param", "fast_period=5", "--param", "slow_period=10"]
    call_command("run_backtest", *args, "--owner", "alice")
    call_command("run_backtest", *args)
    assert set(Run.objects.values_list("owner__username", flat=True)) == {"alice", None}
    with pytest.raises(CommandError, match="--owner: no user is called 'nobody'"):
        call_command("run_backtest", *args, "--owner", "nobody")
    assert Run.objects.count() == 2


def test_deleting_a_user_leaves_their_runs_and_presets_ownerless(people):
    alice = people["users"]["alice"]
    run_row("hers", owner=alice)
    people["clients"]["alice"].post("/api/presets", {"name": "p", "symbols": ["A"]}, format="json")
    assert SymbolPreset.objects.get(name="p").owner_id == alice.pk
    alice.delete()
    assert Run.objects.get(run_id="hers").owner_id is None
    assert SymbolPreset.objects.get(name="p").owner_id is None  # a new user with that id
    # would otherwise inherit it


# --- presets through the API -----------------------------------------------------------------


def test_presets_belong_to_their_creator_others_need_the_permission(people):
    alice_client, bob_client = people["clients"]["alice"], people["clients"]["bob"]
    assert (
        alice_client.post(
            "/api/presets", {"name": "tech", "symbols": ["AAPL"]}, format="json"
        ).status_code
        == 201
    )
    preset = SymbolPreset.objects.get(name="tech")
    assert (preset.owner_id, preset.owner_username) == (people["users"]["alice"].pk, "alice")

    seen = bob_client.get("/api/presets/tech").json()
    assert seen == {
        "name": "tech",
        "symbols": ["AAPL"],
        "owner": "alice",
        "can_change": False,
        "can_delete": False,
    }
    refused(
        bob_client.put("/api/presets/tech", {"symbols": ["MSFT"]}, format="json"),
        not_yours("symbol preset", "'tech'", "change", "secmaster.change_symbolpreset"),
    )
    refused(
        bob_client.delete("/api/presets/tech"),
        not_yours("symbol preset", "'tech'", "delete", "secmaster.delete_symbolpreset"),
    )
    assert SymbolPreset.objects.get(name="tech").symbols == ["AAPL"]

    grant(people["users"]["bob"], "change_symbolpreset")
    bob_client = APIClient()  # a fresh user object: Django caches permissions per object
    bob_client.force_authenticate(type(people["users"]["bob"]).objects.get(username="bob"))
    response = bob_client.put("/api/presets/tech", {"symbols": ["MSFT"]}, format="json")
    assert response.status_code == 200
    assert bob_client.delete("/api/presets/tech").status_code == 403
    assert alice_client.delete("/api/presets/tech").status_code == 200


# --- the admin -------------------------------------------------------------------------------

CHANGELIST = "/admin/backtests/run/"


@pytest.fixture
def staff(django_user_model, client):
    """carol: staff who may view runs and view and add presets, nothing more."""
    carol = django_user_model.objects.create_user(
        username="carol", password=PASSWORD, is_staff=True
    )
    for codename in ("view_run", "view_symbolpreset", "add_symbolpreset"):
        grant(carol, codename)
    client.force_login(carol)
    return {"user": carol, "client": client}


def test_admin_staff_delete_only_their_own_runs(staff, people):
    run_row("hers", owner=people["users"]["alice"])
    run_row("mine", owner=staff["user"])
    client = staff["client"]
    action = {"action": "delete_selected", "_selected_action": ["hers", "mine"]}
    confirmation = client.post(CHANGELIST, action).content.decode()
    assert "run hers (not yours)" in confirmation  # listed as what stops the deletion
    assert client.post(CHANGELIST, {**action, "post": "yes"}).status_code == 403
    assert Run.objects.count() == 2
    client.post(CHANGELIST, {**action, "_selected_action": ["mine"], "post": "yes"})
    assert list(Run.objects.values_list("run_id", flat=True)) == ["hers"]
    assert client.get("/admin/backtests/run/hers/delete/").status_code == 403


def test_admin_cancel_action_skips_others_runs_with_a_warning(staff, people):
    run_row("hers", status=RunStatus.RUNNING, owner=people["users"]["alice"])
    run_row("mine", status=RunStatus.RUNNING, owner=staff["user"])
    page = staff["client"].post(
        CHANGELIST,
        {"action": "cancel_selected_runs", "_selected_action": ["hers", "mine"]},
        follow=True,
    )
    html = page.content.decode()
    assert "Cancelled 1 run(s)." in html
    assert "Run hers is not yours: to cancel it you need the permission" in html
    assert dict(Run.objects.values_list("run_id", "status")) == {
        "hers": "running",
        "mine": "cancelling",
    }


def test_admin_presets_owned_on_add_others_read_only(staff, people):
    client = staff["client"]
    response = client.post(
        "/admin/secmaster/symbolpreset/add/", {"name": "staff list", "symbols": "AAPL"}
    )
    assert response.status_code == 302
    mine = SymbolPreset.objects.get(name="staff list")
    assert (mine.owner_id, mine.owner_username) == (staff["user"].pk, "carol")
    SymbolPreset.objects.create(name="hers", symbols=["X"], owner_id=people["users"]["alice"].pk)

    own = client.post(
        "/admin/secmaster/symbolpreset/staff%20list/change/", {"symbols": "MSFT"}, follow=True
    )
    assert own.status_code == 200
    assert SymbolPreset.objects.get(name="staff list").symbols == ["MSFT"]
    client.post("/admin/secmaster/symbolpreset/hers/change/", {"symbols": "NVDA"})
    assert SymbolPreset.objects.get(name="hers").symbols == ["X"]  # shown read-only
    assert client.get("/admin/secmaster/symbolpreset/hers/delete/").status_code == 403
    assert client.get("/admin/secmaster/symbolpreset/staff%20list/delete/").status_code == 200
