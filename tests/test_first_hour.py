"""Issue 15, the first hour: the product's own error pages, and the demo run with DEBUG off."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
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
