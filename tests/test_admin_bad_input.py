"""Arbitrary input in the admin forms and the login form: never a 500, never a half-written row."""

import os

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import (
    AccountConfiguration,
    AgentProfile,
    ApiCredential,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from tests.admin_forms import admin_post_data

pytestmark = pytest.mark.django_db

REGISTRY_MODELS = [
    VccAccount,
    ApiCredential,
    PciEnvironment,
    PaymentFlow,
    AccountConfiguration,
    AgentProfile,
]
EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "20"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "9" * 40,
    "1e309",
    "NaN",
    "x" * 10_000,
    "\x00",
    "a\x00b",
    "\r\n\t\x0b\x0c",
    "\u202eevil",
    "﷽" * 50,
    "😀" * 100,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "[secret redacted]",
    "[redacted]",
    "gAAAAABhZ2FyYmFnZWdhcmJhZ2VnYXJiYWdlZ2FyYmFnZQ==",
    "http://",
    "https://" + "a" * 300 + ".example",
    "javascript:alert(1)",
    "2026-13-45",
]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So"]), max_size=50),
    st.integers().map(str),
)


def table_counts() -> dict[str, int]:
    models = [m for m in apps.get_app_config("payments").get_models()] + [User, Group]
    return {model._meta.label: model._base_manager.count() for model in models}


def snapshot(obj) -> dict:
    return type(obj)._base_manager.filter(pk=obj.pk).values().get()


def mutated(base: dict, changes: dict) -> dict:
    data = dict(base)
    data.update(changes)
    return data


@pytest.fixture
def superuser_client(demo):
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    return client


def add_url(model) -> str:
    return reverse(f"admin:payments_{model._meta.model_name}_add")


def change_url(obj) -> str:
    return reverse(f"admin:payments_{obj._meta.model_name}_change", args=[obj.pk])


def check_add(client, model, data):
    before = table_counts()
    response = client.post(add_url(model), data)
    assert response.status_code in (200, 302)
    after = table_counts()
    label = model._meta.label
    if response.status_code == 200:
        assert after == before, "a refused form wrote rows"
        form_errors = response.context["errors"]
        assert form_errors, "a refused form must say what to fix"
    else:
        assert after[label] == before[label] + 1
        created = model._base_manager.order_by("-pk").first()
        created.full_clean()


def check_change(client, obj, data):
    before, stored = table_counts(), snapshot(obj)
    response = client.post(change_url(obj), data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert table_counts() == before, "a refused form wrote rows"
        assert snapshot(obj) == stored, "a refused form changed the object"
        assert response.context["errors"], "a refused form must say what to fix"
    else:
        type(obj)._base_manager.get(pk=obj.pk).full_clean()


@pytest.mark.parametrize("model", REGISTRY_MODELS, ids=lambda m: m.__name__)
def test_admin_add_form_survives_arbitrary_input(superuser_client, model):
    """Bad input: any text in any field of the add form is a form error or a valid row."""
    base = admin_post_data(superuser_client.get(add_url(model)))
    names = sorted(base)

    @PROPERTY
    @given(changes=st.dictionaries(st.sampled_from(names), TEXT, min_size=1, max_size=4))
    def run(changes):
        check_add(superuser_client, model, mutated(base, changes))

    run()


@pytest.mark.parametrize("model", REGISTRY_MODELS, ids=lambda m: m.__name__)
def test_admin_change_form_survives_arbitrary_input(superuser_client, model):
    """Bad input: the change form (inlines included) refuses cleanly or saves a valid row."""
    obj = model._base_manager.order_by("pk").first()
    if obj is None:
        obj = AgentProfile.objects.create(user=User.objects.get(username="agent"), agent_id="a1")
    base = admin_post_data(superuser_client.get(change_url(obj)))
    names = sorted(base)

    @PROPERTY
    @given(changes=st.dictionaries(st.sampled_from(names), TEXT, min_size=1, max_size=4))
    def run(changes):
        check_change(superuser_client, obj, mutated(base, changes))

    run()


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_login_form_survives_arbitrary_input(demo, url):
    """Bad input: any username and password get the form again (or the lockout page)."""

    @PROPERTY
    @given(username=TEXT, password=TEXT, next_url=st.one_of(st.just(""), TEXT))
    def run(username, password, next_url):
        before = table_counts()
        response = Client().post(
            url, {"username": username, "password": password, "next": next_url}
        )
        assert response.status_code in (200, 429)
        after = table_counts()
        assert after["auth.User"] == before["auth.User"]
        assert after["payments.AuditEvent"] - before["payments.AuditEvent"] in (0, 1, 2)

    run()


def test_failed_login_audit_survives_control_characters(demo):
    """Bad input: a username full of control characters is audited, not crashed on."""
    username = "ann\x07\x1b[31m\u202e"
    Client().post("/accounts/login/", {"username": username, "password": "nope"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.object_repr == username


def test_tampered_inline_management_form_is_refused_with_a_message(superuser_client):
    """Bad input: existing inline rows posted as new ones pass the forms but not the model."""
    account = VccAccount.objects.get(name="Sandbox")
    data = admin_post_data(superuser_client.get(change_url(account)))
    data |= {"configurations-INITIAL_FORMS": "0", "configurations-1-notes": "changed"}
    before, stored = table_counts(), snapshot(account)
    response = superuser_client.post(change_url(account), data, follow=True)
    assert response.status_code == 200
    assert table_counts() == before
    assert snapshot(account) == stored
    messages = [str(message) for message in response.context["messages"]]
    assert any("Nothing was saved" in message for message in messages), messages


@pytest.mark.parametrize("prefix", ["credentials", "configurations"])
def test_tampered_inline_total_forms_builds_a_bounded_formset(superuser_client, prefix):
    """Bad input: a huge TOTAL_FORMS builds at most INLINE_MAX_ROWS forms and writes nothing."""
    from payments.admin.base import INLINE_MAX_ROWS

    account = VccAccount.objects.get(name="Sandbox")
    data = admin_post_data(superuser_client.get(change_url(account)))
    data[f"{prefix}-TOTAL_FORMS"] = "100000"
    before, stored = table_counts(), snapshot(account)
    response = superuser_client.post(change_url(account), data)
    assert response.status_code == 200
    assert table_counts() == before
    assert snapshot(account) == stored
    formset = next(
        formset
        for formset in response.context["inline_admin_formsets"]
        if formset.formset.prefix == prefix
    ).formset
    assert len(formset.forms) <= INLINE_MAX_ROWS
    assert f"at most {INLINE_MAX_ROWS}" in " ".join(formset.non_form_errors())
