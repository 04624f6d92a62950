from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import ApiToken
from payments.services.api_tokens import api_token_authenticate, token_hash
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def issue(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_issue_api_token_prints_only_the_token_on_stdout():
    UserFactory(username="ivr")
    raw_token, message = issue("ivr", "--name", "IVR staging")
    token = ApiToken.objects.get()
    assert token.token_hash == token_hash(raw_token)
    assert token.name == "IVR staging"
    assert "shown this once" in message
    assert raw_token not in message


def test_issued_token_authenticates_as_its_user():
    user = UserFactory(username="ivr")
    raw_token, _ = issue("ivr")
    assert api_token_authenticate(raw_token=raw_token).user == user


def test_each_run_issues_a_different_token():
    UserFactory(username="ivr")
    assert issue("ivr")[0] != issue("ivr")[0]
    assert ApiToken.objects.count() == 2


def test_issue_api_token_for_an_unknown_user_says_so():
    with pytest.raises(CommandError, match='There is no user "ghost"'):
        issue("ghost")
    assert not ApiToken.objects.exists()


def test_issue_api_token_for_an_inactive_user_is_refused():
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        issue("gone")
    assert not ApiToken.objects.exists()


def test_issue_api_token_refuses_an_overlong_name():
    UserFactory(username="ivr")
    with pytest.raises(CommandError, match="--name"):
        issue("ivr", "--name", "x" * 101)
    assert not ApiToken.objects.exists()
