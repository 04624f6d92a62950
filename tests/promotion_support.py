"""What the promotion tests share: a README-like request, accounts by name, clients per door."""

from django.contrib.auth.models import User
from django.test import Client

from payments.models import Promotion, VccAccount
from payments.services import promotion_request
from payments.services.api_tokens import api_token_issue

REASON = "3-D Secure card payments go live"


def account(name: str) -> VccAccount:
    return VccAccount.objects.get(name=name)


def request(people, flow, **overrides) -> Promotion:
    """Request flow → production flow 424, id 3 on Production, as `registry` (overridable)."""
    arguments = {
        "source_flow": flow,
        "target_account": account("Production"),
        "production_flow_number": 424,
        "configuration_id": 3,
        "reason": REASON,
        "actor": people["registry"],
    }
    arguments.update(overrides)
    return promotion_request(**arguments)


def web(user: User) -> Client:
    """A browser session signed in as the user (the page door)."""
    client = Client()
    client.force_login(user)
    return client


def api(user: User) -> Client:
    """A client holding a fresh API token of the user (the API door)."""
    token = api_token_issue(user=user)[1]
    return Client(headers={"Authorization": f"Bearer {token}"})
