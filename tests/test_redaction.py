"""One set of redaction rules: logs, error reports, the audit export, the registry file check,
serialised secrets and VCC error text hide the same things behind the same placeholder."""

import logging
import time
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core import serializers

from payments.log_filters import RedactSecretsFilter, SecretsExceptionReporterFilter
from payments.models import AuditEvent
from payments.redaction import REDACTED, is_placeholder, is_secret_name, redact_data, redact_text
from payments.selectors.audit import csv_rows, event_changes, event_record
from payments.selectors.registry_file import FORMAT, RegistryFileError, validate_document
from payments.services import audit_record
from payments.vcc.messages import sanitised
from tests.factories import ApiCredentialFactory

# A real token, and a look-alike whose sixth character is not "A": the audit export caught the
# second and the logs did not, before both used payments.redaction.
REAL_TOKEN = Fernet(Fernet.generate_key()).encrypt(b"the secret").decode()
FOUR_A_TOKEN = "gAAAAxQ1bm90LWEtcmVhbC10b2tlbi1idXQtY2xvc2U="
TOKENS = [REAL_TOKEN, FOUR_A_TOKEN]
# Stable ids: the real token is made at import, and every test process must collect the same names.
TOKEN_IDS = ["fernet-token", "four-a-lookalike"]
# Names the logs, the audit export, the error reports and the registry file all treat as secret.
SECRET_NAMES = [
    "client_secret",
    "password",
    "access_token",
    "agentRefreshToken",
    "X-REFRESH-TOKEN",
    "api_key",
]
VALUE = "hunter2-value-9f3c"


def logged(message: str, *args) -> str:
    """What a handler carrying the settings' filter writes for one record."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    record = logging.LogRecord("payments.test", logging.INFO, __file__, 1, message, args, None)
    handler.handle(record)
    return stream.getvalue()


def reported_locals(variables: dict) -> dict:
    """The local variables an error report shows for a frame holding these variables."""
    try:
        exec("raise RuntimeError('boom')", {}, dict(variables))
    except RuntimeError as exc:
        traceback = exc.__traceback__
        while traceback.tb_next:
            traceback = traceback.tb_next
        frame = traceback.tb_frame
    return dict(SecretsExceptionReporterFilter().get_traceback_frame_variables(None, frame))


def exported(**details) -> dict:
    """One audit event as the audit export writes it."""
    event = audit_record(action="test.redaction", object_type="test", **details)
    return event_record(event)


def registry_problems(account: dict) -> list[str]:
    document = {"format": FORMAT, "accounts": [{"name": "A", "kind": "sandbox", **account}]}
    with pytest.raises(RegistryFileError) as raised:
        validate_document(document, environ={})
    return raised.value.problems


@pytest.mark.parametrize("token", TOKENS, ids=TOKEN_IDS)
def test_redaction_fernet_token_is_hidden_in_logs(token):
    assert token not in logged("stored %s here", token)
    assert f"stored {REDACTED} here" in logged("stored %s here", token)


@pytest.mark.parametrize("token", TOKENS, ids=TOKEN_IDS)
@pytest.mark.django_db
def test_redaction_fernet_token_is_hidden_in_the_audit_export(token):
    record = exported(reason=f"rotated {token}", after={"note": f"was {token}"})
    assert record["reason"] == f"rotated {REDACTED}"
    assert record["after"] == {"note": f"was {REDACTED}"}


@pytest.mark.parametrize("token", TOKENS, ids=TOKEN_IDS)
def test_redaction_fernet_token_is_hidden_in_error_reports(token):
    shown = reported_locals({"note": f"stored {token}"})
    assert shown["note"] == f"stored {REDACTED}"


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_redaction_secret_names_are_hidden_in_logs(name):
    line = logged("sent %s=%s&scope=x", name, VALUE)
    assert VALUE not in line
    assert f"{name}={REDACTED}&scope=x" in line


@pytest.mark.parametrize("name", SECRET_NAMES)
@pytest.mark.django_db
def test_redaction_secret_names_are_hidden_in_the_audit_export(name):
    record = exported(before={name: VALUE}, after={name: VALUE, "label": "kept"})
    assert record["before"] == {name: REDACTED}
    assert record["after"] == {name: REDACTED, "label": "kept"}


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_redaction_secret_names_are_hidden_in_error_reports(name):
    shown = reported_locals({name: VALUE, "label": "kept"})
    assert shown[name] != VALUE
    assert shown["label"] == "kept"


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_redaction_secret_names_are_refused_inline_in_the_registry_file(name):
    problems = registry_problems({name: VALUE})
    assert problems == [
        f"accounts[0].{name}: inline secrets are refused. Remove it, put the secret in an "
        'environment variable and name that variable in "client_secret_env".'
    ]


def test_redaction_fingerprints_stay_visible_in_logs_audit_and_the_registry_file(db):
    fingerprint = "…0192 · 3f9a1c"
    assert logged("secret_fingerprint=%s", fingerprint).strip().endswith(fingerprint)
    record = exported(after={"secret_fingerprint": fingerprint})
    assert record["after"] == {"secret_fingerprint": fingerprint}
    problems = registry_problems({"fingerprint": fingerprint})
    assert problems == [
        "accounts[0].fingerprint: unknown field; remove it (export_registry "
        "writes every field there is)."
    ]
    assert not is_secret_name("secret_fingerprint") and is_secret_name("client_secret")


@pytest.mark.django_db
def test_redaction_placeholder_is_the_same_in_logs_audit_serialisation_and_vcc_errors():
    assert f"client_secret={REDACTED}" in logged("client_secret=%s", VALUE)
    record = exported(after={"client_secret": VALUE})
    assert record["after"]["client_secret"] == REDACTED
    [(_, _, shown_after)] = event_changes(
        audit_record(action="test.redaction", after={"client_secret": VALUE})
    )
    assert shown_after == REDACTED
    credential = ApiCredentialFactory(secret=VALUE)
    serialised = serializers.serialize("json", [credential])
    assert VALUE not in serialised and f'"client_secret": "{REDACTED}"' in serialised
    assert sanitised(f"VCC said {VALUE}", secrets=(VALUE,)) == f"VCC said {REDACTED}"


@pytest.mark.django_db
def test_redaction_csv_export_carries_the_placeholder_not_the_secret():
    audit_record(action="test.redaction", after={"password": VALUE}, reason=FOUR_A_TOKEN)
    text = "".join(csv_rows(AuditEvent.objects.filter(action="test.redaction")))
    assert VALUE not in text and FOUR_A_TOKEN not in text
    assert text.count(REDACTED) == 2


@pytest.mark.parametrize("placeholder", [REDACTED, "[secret redacted]"])
@pytest.mark.django_db
def test_redaction_placeholder_old_or_new_is_never_stored_as_a_secret(placeholder):
    assert is_placeholder(placeholder)
    credential = ApiCredentialFactory(secret=VALUE)
    credential.client_secret = placeholder
    with pytest.raises(ValueError, match="placeholder"):
        credential.save()


def test_redaction_of_nested_data_keeps_its_shape():
    data = {"rows": [{"token": "abc", "n": 1}, f"at {FOUR_A_TOKEN}"], "items": ("x",)}
    assert redact_data(data) == {
        "rows": [{"token": REDACTED, "n": 1}, f"at {REDACTED}"],
        "items": ("x",),
    }


def test_redaction_of_a_long_word_stays_fast():
    """A 200 kB base64-like log line must not make the name search quadratic."""
    word = "Ab9-" * 50_000
    start = time.perf_counter()
    assert redact_text(word) == word
    assert time.perf_counter() - start < 1.0
