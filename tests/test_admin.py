import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditEvent,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from tests.conftest import raw_column

pytestmark = pytest.mark.django_db

CANARY = "canary-admin-9e3d1a-leak-check"


@pytest.fixture
def credential(demo):
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    credential.set_secret(CANARY)
    credential.save()
    return credential


def credential_form_data(credential, **overrides):
    data = {
        "account": credential.account_id,
        "label": credential.label,
        "client_id": credential.client_id,
        "client_secret": "",
        "allowed_environments": credential.allowed_environments,
        "is_enabled": "on",
        "change_reason": "",
    }
    data.update(overrides)
    return data


def change_url(obj):
    return reverse(f"admin:payments_{obj._meta.model_name}_change", args=[obj.pk])


def assert_no_secret(html: str):
    assert CANARY not in html
    assert not re.search(r"gAAAA[\w-]{20,}", html)


def test_credential_change_page_never_shows_the_secret(admin_client, credential):
    """The change page renders an empty password input, never the secret (TEST_PLAN H1)."""
    response = admin_client.get(change_url(credential))
    html = response.content.decode()
    assert response.status_code == 200
    assert_no_secret(html)
    assert re.search(r'<input type="password" name="client_secret"[^>]*>', html)
    assert 'name="client_secret" value=' not in html
    assert credential.secret_fingerprint in html


def test_blank_secret_keeps_the_stored_one(admin_client, credential):
    """Saving the form with the secret left blank keeps the stored secret (TEST_PLAN H2)."""
    response = admin_client.post(change_url(credential), credential_form_data(credential))
    assert response.status_code == 302
    assert raw_column("payments_apicredential", "client_secret", credential.pk).startswith("gAAAA")
    saved = ApiCredential.objects.get(pk=credential.pk)
    assert saved.client_secret == CANARY
    assert saved.secret_fingerprint == credential.secret_fingerprint


def test_new_secret_replaces_and_is_audited_without_value(admin_client, credential):
    """A typed secret replaces the old one; the audit row holds fingerprints only (TEST_PLAN H3)."""
    data = credential_form_data(credential, client_secret="brand-new-secret-5678")
    data["change_reason"] = "rotated by Vonage"
    response = admin_client.post(change_url(credential), data)
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.client_secret == "brand-new-secret-5678"
    assert credential.last_rotated_at is not None
    # The fixture's own set_secret() + save() is a rotation too (by the system).
    event = AuditEvent.objects.filter(action="credential.secret_rotated", actor_name="root").get()
    assert event.reason == "rotated by Vonage"
    assert event.after == {"secret_fingerprint": credential.secret_fingerprint}
    assert "brand-new-secret" not in str(event.before) + str(event.after)
    history = credential.history.first()
    assert history.history_change_reason == "rotated by Vonage"


def test_invalid_form_does_not_echo_the_new_secret(admin_client, credential):
    """A form re-shown with an error does not echo the secret typed into it (TEST_PLAN H6)."""
    data = credential_form_data(credential, client_secret=CANARY, client_id="")
    response = admin_client.post(change_url(credential), data)
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert_no_secret(response.content.decode())


def test_changelist_and_search_never_show_the_secret(admin_client, credential):
    """The changelist shows no secret and searching for one matches no row (TEST_PLAN H4)."""
    url = reverse("admin:payments_apicredential_changelist")
    assert_no_secret(admin_client.get(url).content.decode())
    # The search box echoes what was typed; what matters is that the secret matches nothing.
    response = admin_client.get(url, {"q": CANARY})
    assert response.context["cl"].result_count == 0
    # ...while the table holds the four demo credentials (the admin no longer counts them all).
    assert ApiCredential.objects.count() == 4


def test_history_pages_never_show_the_secret(admin_client, credential):
    """The history page shows no secret, old or new; history keeps no such column (TEST_PLAN H5)."""
    data = credential_form_data(credential, client_secret="rotated-secret-abcd")
    admin_client.post(change_url(credential), data)
    url = reverse("admin:payments_apicredential_history", args=[credential.pk])
    html = admin_client.get(url).content.decode()
    assert_no_secret(html)
    assert "rotated-secret-abcd" not in html
    assert not hasattr(credential.history.model, "client_secret")


def test_account_inline_saves_credentials_write_only(admin_client, demo):
    account = VccAccount.objects.get(name="Sandbox")
    response = admin_client.get(change_url(account))
    html = response.content.decode()
    assert "sandbox-client-a" in html
    assert re.search(r'name="credentials-0-client_secret"', html)
    assert 'name="credentials-0-client_secret" value=' not in html


def test_link_changelist_answers_the_seed_question(admin_client, demo):
    response = admin_client.get(reverse("admin:payments_accountconfiguration_changelist"))
    html = response.content.decode()
    assert "Production · id 1 → Flow 422 · production" in html
    assert "Sandbox · id 1 → Flow 695 · staging" in html
    assert "Contact Centre · id 4 → Flow 422 · production" in html


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ("422", "Production · id 1 → Flow 422", "Flow 695"),
        ("4", "Contact Centre · id 4 →", "Sandbox · id"),
        ("production-client-b", "Production · id 2 → Flow 423", "Sandbox · id"),
        ("refund", "Flow 696", "Flow 695"),
    ],
)
def test_link_search_by_number_id_name_and_client_id(admin_client, demo, query, expected, absent):
    url = reverse("admin:payments_accountconfiguration_changelist")
    html = admin_client.get(url, {"q": query}).content.decode()
    assert expected in html
    assert absent not in html


def test_link_filters_by_stage(admin_client, demo):
    url = reverse("admin:payments_accountconfiguration_changelist")
    html = admin_client.get(url, {"flow__environment__stage__exact": "staging"}).content.decode()
    assert "Flow 695" in html and "Flow 422" not in html


def test_link_invariant_error_is_shown_not_raised(admin_client, demo):
    url = reverse("admin:payments_accountconfiguration_add")
    data = {
        "account": VccAccount.objects.get(name="Sandbox").pk,
        "configuration_id": 9,
        "flow": PaymentFlow.objects.get(number=422).pk,
        "is_active": "on",
        "notes": "",
        "change_reason": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "can only link to staging flows" in response.content.decode()
    assert not AccountConfiguration.objects.filter(configuration_id=9).exists()


def test_duplicate_link_gets_a_message(admin_client, demo):
    url = reverse("admin:payments_accountconfiguration_add")
    data = {
        "account": VccAccount.objects.get(name="Sandbox").pk,
        "configuration_id": 1,
        "flow": PaymentFlow.objects.get(number=696).pk,
        "is_active": "on",
        "change_reason": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    # At the field, naming the flow the id already starts.
    errors = response.context["adminform"].form.errors["configuration_id"]
    assert errors[0].startswith("Id 1 on Sandbox already starts flow 695")


@pytest.mark.parametrize(
    "model", [VccAccount, ApiCredential, PciEnvironment, PaymentFlow, AccountConfiguration]
)
def test_admin_pages_render_for_every_registry_model(admin_client, demo, model):
    name = model._meta.model_name
    obj = model.objects.first()
    for url in [
        reverse(f"admin:payments_{name}_changelist"),
        reverse(f"admin:payments_{name}_add"),
        change_url(obj),
        reverse(f"admin:payments_{name}_history", args=[obj.pk]),
    ]:
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.parametrize("name", ["paymentsession", "auditevent"])
def test_record_admins_are_read_only(admin_client, demo, name):
    assert admin_client.get(reverse(f"admin:payments_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:payments_{name}_add")).status_code == 403


def test_changelists_count_their_rows_once(admin_client, demo):
    """docs/PERFORMANCE.md: no second COUNT of the whole table for "(N total)" on any page."""
    from django.contrib import admin as django_admin

    ours = [a for m, a in django_admin.site._registry.items() if m._meta.app_label == "payments"]
    assert ours and all(not a.show_full_result_count for a in ours)
    url = reverse("admin:payments_accountconfiguration_changelist")
    pages = {}
    for name, params in (
        ("all", {}),
        ("sorted", {"o": "-1"}),
        ("filtered", {"flow__environment__stage__exact": "staging"}),
    ):
        with CaptureQueriesContext(connection) as queries:
            pages[name] = admin_client.get(url, params).content.decode()
        counts = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(*)")]
        assert len(counts) == 1, counts
    # A filtered page offers the way back; the whole list does not offer "Show all" of itself.
    assert "Show all" in pages["filtered"]
    assert "Show all" not in pages["all"] and "Show all" not in pages["sorted"]
    assert "10 account configuration links" in pages["all"]


def test_admin_site_is_titled_for_the_product(admin_client):
    assert "VCC Registry" in admin_client.get(reverse("admin:index")).content.decode()


def test_staff_without_permissions_sees_no_credentials(client, demo, django_user_model):
    """Staff without permissions get 403 on the credential list and change page (TEST_PLAN A1)."""
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    credential = ApiCredential.objects.first()
    assert client.get(reverse("admin:payments_apicredential_changelist")).status_code == 403
    assert client.get(change_url(credential)).status_code == 403


def test_the_redaction_placeholder_is_refused_as_a_new_secret(admin_client, credential):
    """Found by the property tests: typing the dump placeholder as a secret gave a 500."""
    data = credential_form_data(credential, client_secret="[secret redacted]")
    response = admin_client.post(change_url(credential), data)
    assert response.status_code == 200
    assert "placeholder" in response.content.decode()
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == CANARY
