"""A NUL character in a request is a 400 on every database, never a 500."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:payments_auditevent_changelist") + "?q=%00",
        reverse("admin:payments_paymentsession_changelist") + "?q=a%00b",
        reverse("admin:payments_auditevent_changelist") + "?action__exact=%00",
        "/admin/autocomplete/?term=%00&app_label=payments&model_name=accountconfiguration"
        "&field_name=flow",
        "/admin/autocomplete/?te%00rm=x",
        "/admin/payments/auditevent/%00/change/",
    ],
)
def test_a_nul_in_the_address_is_a_400(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 400
    assert "NUL characters" in response.content.decode()


def test_a_nul_in_a_posted_form_is_the_form_s_own_error(admin_client):
    response = admin_client.post(
        reverse("admin:payments_vccaccount_add"), {"name": "Evil\x00", "kind": "sandbox"}
    )
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()


def test_requests_without_nul_are_untouched(admin_client):
    response = admin_client.get(reverse("admin:payments_auditevent_changelist") + "?q=ok")
    assert response.status_code == 200
