import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_requires_login(client):
    response = client.get(reverse("payments:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_lists_what_the_user_may_open(client, demo):
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username="auditor"))
    html = client.get(reverse("payments:home")).content.decode()
    assert "Admin" in html
    assert "Launch" not in html


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_favicon_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.url.endswith("payments/favicon.svg")
