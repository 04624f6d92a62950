"""Property-based fuzzing of the API from its own OpenAPI document: no input gives a 500."""

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from payments.models import ApiCredential
from payments.services.api_tokens import api_token_issue
from tests.conftest import point_accounts_at, provision_from_registry

app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

# Bounded, so the whole file runs in seconds on a shared two-core machine.
FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Leave the test's database connection open across requests, as Django's test client does.

    The WSGI handler closes connections when a request ends; inside a test's transaction that
    breaks the connection on PostgreSQL.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auditor_token(demo):
    return api_token_issue(user=User.objects.get(username="auditor"))[1]


@pytest.fixture
def stored_secrets(demo):
    return [credential.client_secret for credential in ApiCredential.objects.all()]


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_to_its_openapi_document(case, auditor_token, stored_secrets):
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {auditor_token}"},
        # Rules no schema states (a currency code, a typed confirmation, one way to name the
        # link) rightly refuse some schema-valid bodies with 422.
        excluded_checks=[positive_data_acceptance],
    )
    assert not any(secret in response.text for secret in stored_secrets)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_without_a_token_answers_401_json(case, demo):
    response = case.call()
    assert response.status_code in (401, 405), response.text
    assert "detail" in response.json()


@pytest.fixture
def agent_token_on_emulator(vcc_emulator, demo):
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return api_token_issue(user=User.objects.get(username="agent"))[1]


@pytest.mark.django_db(transaction=True)
@schema.include(method="POST", path="/api/v1/sessions").parametrize()
@settings(FUZZ_SETTINGS, max_examples=25)
def test_launches_by_an_agent_on_the_emulator_never_fail_on_the_server(
    case, agent_token_on_emulator
):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {agent_token_on_emulator}"},
        excluded_checks=[positive_data_acceptance],
    )
