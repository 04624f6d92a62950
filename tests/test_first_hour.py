"""Issue 15, the first hour: the product's own error pages, and the demo run with DEBUG off."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory, override_settings
from django.views import defaults

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
HOME_LINK = 'href="/"'


def test_demo_target_turns_debug_off_whatever_the_env_file_says():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: export DEBUG = false$", makefile, re.MULTILINE)


def test_generated_env_file_has_debug_off(tmp_path):
    import subprocess
    import sys

    target = tmp_path / ".env"
    subprocess.run([sys.executable, str(ROOT / "scripts/make_env.py"), str(target)], check=True)
    lines = target.read_text().splitlines()
    assert "DEBUG=false" in lines
    assert "DEBUG=true" not in lines


@pytest.mark.django_db
def test_error_page_404_is_the_products_with_a_way_home(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert HOME_LINK in body
    assert "VCC Registry" in body
    assert "URLconf" not in body  # never Django's technical page


@pytest.mark.django_db
def test_error_page_404_for_someone_elses_session_says_why(client, demo, people):
    from payments.models import PaymentSession

    client.force_login(people["agent"])
    missing = (PaymentSession.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    response = client.get(f"/sessions/{missing}/")
    assert response.status_code == 404
    assert "belongs to someone else" in response.content.decode()


def test_error_page_500_needs_neither_database_nor_request_context():
    # No db fixture: any query would raise. server_error renders 500.html with an empty Context.
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert HOME_LINK in body


def test_error_page_400_is_the_products():
    response = defaults.bad_request(RequestFactory().get("/"), Exception("bad"))
    assert response.status_code == 400
    assert "The request could not be read" in response.content.decode()


@pytest.mark.django_db
def test_error_page_403_is_the_products(rf):
    request = rf.get("/")
    request.user = UserFactory()
    response = defaults.permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not allowed" in body
    assert HOME_LINK in body


@pytest.mark.django_db
def test_error_page_403_for_an_expired_form_says_reload(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()


@pytest.mark.django_db
def test_step_url_opened_in_the_address_bar_leads_to_the_promotion(client, people):
    client.force_login(people["approver"])
    for url in ("/promotions/7/approve/", "/promotions/7/apply/", "/promotions/7/schedule/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/promotions/7/"


@pytest.mark.django_db
def test_other_method_not_allowed_gets_the_products_405_page(admin_client):
    response = admin_client.get("/accounts/logout/")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    body = response.content.decode()
    assert "This address is an action, not a page" in body
    assert HOME_LINK in body


@pytest.mark.django_db
def test_api_method_not_allowed_stays_a_machine_answer(client):
    response = client.get("/vcc/webhook/")
    assert response.status_code == 405
    assert "action, not a page" not in response.content.decode()


# --- Item 2: a credential needs a secret; one without says so wherever it is listed ----------


def _secretless_credential_on_sandbox():
    from payments.models import ApiCredential, VccAccount

    credential = ApiCredential(
        account=VccAccount.objects.get(name="Sandbox"), label="Z", client_id="no-secret-client"
    )
    credential.save()
    return credential


@pytest.mark.django_db
def test_admin_credential_add_without_secret_is_refused_at_the_field(admin_client, demo):
    from payments.models import ApiCredential, VccAccount

    data = {
        "account": VccAccount.objects.get(name="Sandbox").pk,
        "label": "New",
        "client_id": "brand-new-client",
        "allowed_environments": "staging",
        "is_enabled": "on",
        "client_secret": "",
        "change_reason": "first credential",
    }
    response = admin_client.post("/admin/payments/apicredential/add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["client_secret"] == [
        "A new credential needs its client secret: without one it cannot launch."
    ]
    assert not ApiCredential.objects.filter(client_id="brand-new-client").exists()

    data["client_secret"] = "a-real-secret-value-123"
    response = admin_client.post("/admin/payments/apicredential/add/", data)
    assert response.status_code == 302
    assert ApiCredential.objects.get(client_id="brand-new-client").has_secret


@pytest.mark.django_db
def test_admin_credential_change_without_secret_keeps_the_stored_one(admin_client, demo):
    from payments.models import ApiCredential

    credential = ApiCredential.objects.exclude(secret_fingerprint="").first()
    fingerprint = credential.secret_fingerprint
    page = admin_client.get(f"/admin/payments/apicredential/{credential.pk}/change/")
    from tests.admin_forms import admin_post_data

    data = admin_post_data(page) | {"label": "Renamed", "change_reason": "rename"}
    response = admin_client.post(f"/admin/payments/apicredential/{credential.pk}/change/", data)
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.label, credential.secret_fingerprint) == ("Renamed", fingerprint)


@pytest.mark.django_db
def test_credential_without_secret_is_named_in_the_admin_list_and_account_page(admin_client, demo):
    credential = _secretless_credential_on_sandbox()
    listing = admin_client.get("/admin/payments/apicredential/").content.decode()
    assert "no secret — cannot launch" in listing
    account = admin_client.get(f"/admin/payments/vccaccount/{credential.account_id}/change/")
    assert "no secret — cannot launch" in account.content.decode()


@pytest.mark.django_db
def test_launch_page_names_the_credential_without_secret(client, people):
    credential = _secretless_credential_on_sandbox()
    client.force_login(people["agent"])
    response = client.get("/launch/")
    body = response.content.decode()
    assert "Not offered: <strong>Z</strong> on Sandbox — no secret — cannot launch." in body
    assert f'<option value="{credential.pk}"' not in body  # still not offered
    assert 'data-secretless="Z"' in body


# --- Item 6: a production link opened by an agent explains itself -------------------------


@pytest.mark.django_db
def test_launch_page_explains_a_production_link_to_an_agent(client, people):
    from payments.models import AccountConfiguration, Stage

    link = AccountConfiguration.objects.for_stage(Stage.PRODUCTION).launchable().first()
    client.force_login(people["agent"])
    response = client.get(f"/launch/?link={link.pk}")
    assert response.status_code == 200
    notice = response.context["form"].link_notice
    assert notice.startswith(f"{link} is a production link: only members of Production launchers")
    assert 'id="link-notice"' in response.content.decode()


@pytest.mark.django_db
def test_launch_page_offers_a_production_link_to_a_launcher_without_notice(client, people):
    from payments.models import AccountConfiguration, Stage

    link = AccountConfiguration.objects.for_stage(Stage.PRODUCTION).launchable().first()
    client.force_login(people["launcher"])
    response = client.get(f"/launch/?link={link.pk}")
    assert response.context["form"].link_notice == ""
    assert 'id="link-notice"' not in response.content.decode()


@pytest.mark.django_db
def test_launch_page_says_an_unknown_link_does_not_exist(client, people):
    client.force_login(people["agent"])
    response = client.get("/launch/?link=999999")
    assert response.context["form"].link_notice == (
        "There is no configuration link 999999: choose a flow below."
    )


# --- Item 7: a duplicate configuration id is refused at its field, naming the flow ----------


@pytest.mark.django_db
def test_admin_duplicate_configuration_id_is_refused_at_the_field(admin_client, demo):
    from payments.models import AccountConfiguration, PaymentFlow

    taken = AccountConfiguration.objects.select_related("flow__environment", "account").first()
    other_flow = (
        PaymentFlow.objects.filter(environment=taken.flow.environment).exclude(pk=taken.flow_id)
    ).first() or taken.flow
    data = {
        "account": taken.account_id,
        "configuration_id": taken.configuration_id,
        "flow": other_flow.pk,
        "is_active": "on",
        "notes": "",
        "change_reason": "duplicate",
    }
    response = admin_client.post("/admin/payments/accountconfiguration/add/", data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    flow = taken.flow
    assert form.errors["configuration_id"] == [
        f"Id {taken.configuration_id} on {taken.account.name} already starts flow {flow.number} "
        f"“{flow.name}” ({flow.environment.stage}). Each id starts one flow: use the id Vonage "
        "provisioned for this one."
    ]
    assert not form.non_field_errors()


# --- Item 10: the audit trail is easy to scan ---------------------------------------------


@pytest.fixture
def auditor_client(client, people):
    client.force_login(people["auditor"])
    return client


def _listed_actions(response) -> set[str]:
    return {event.action for event, _ in response.context["rows"]}


@pytest.mark.django_db
def test_audit_page_hides_sign_ins_unless_asked(auditor_client, people):
    from payments.services import audit_record

    audit_record(action="auth.login", actor=people["agent"], object_type="user")
    audit_record(action="auth.logout", actor=people["agent"], object_type="user")
    audit_record(action="auth.login_failed", outcome="failure", object_type="user")
    default = _listed_actions(auditor_client.get("/audit/"))
    assert "auth.login_failed" in default
    assert not default & {"auth.login", "auth.logout"}
    asked = _listed_actions(auditor_client.get("/audit/", {"sign_ins": "on"}))
    assert {"auth.login", "auth.logout", "auth.login_failed"} <= asked
    by_action = _listed_actions(auditor_client.get("/audit/", {"action": "auth.login"}))
    assert by_action == {"auth.login"}


@pytest.mark.django_db
def test_audit_page_view_is_recorded_once_per_session_not_per_load(auditor_client):
    from payments.models import AuditEvent

    def viewed():
        return AuditEvent.objects.filter(action="audit.viewed").count()

    auditor_client.get("/audit/")
    auditor_client.get("/audit/")
    auditor_client.get("/audit/", {"page": "2"})
    assert viewed() == 1
    auditor_client.get("/audit/", {"outcome": "denied"})
    auditor_client.get("/audit/", {"outcome": "denied"})
    assert viewed() == 2  # a new question is recorded once too


@pytest.mark.django_db
def test_audit_export_is_recorded_every_time(auditor_client):
    from payments.models import AuditEvent

    for _ in range(2):
        response = auditor_client.get("/audit/export.csv")
        b"".join(response.streaming_content)
    assert AuditEvent.objects.filter(action="audit.exported").count() == 2


# --- Item 11: the README and the demo output say what is true ------------------------------


def test_readme_cites_only_documents_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "RELIABILITY.md" not in readme
    for cited in re.findall(r"`(docs/[\w./-]+\.md)`", readme):
        assert cited == "docs/TEST_PLAN.md" or (ROOT / cited).exists(), cited


def test_readme_walkthrough_says_where_staging_launches_are():
    readme = (ROOT / "README.md").read_text()
    assert "every step above" not in readme
    assert "Staging launches such as step 1's are test sessions, not audit events" in readme


def test_seed_demo_does_not_claim_the_logins_are_shown_once():
    source = (ROOT / "payments/management/commands/seed_demo.py").read_text()
    assert "shown once" not in source


@pytest.mark.django_db
def test_error_page_403_says_why_it_was_refused(client, demo, people):
    """The 403 page shows the refusal's own words (what to do), not only a generic line."""
    client.force_login(people["approver"])
    with override_settings(DEBUG=False):
        response = client.get("/launch/")
    assert response.status_code == 403
    assert "You may not launch payment sessions" in response.content.decode()
