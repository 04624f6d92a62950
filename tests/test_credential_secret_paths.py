"""Whatever path writes a credential secret, its fingerprint follows the stored value."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import FieldError
from django.urls import reverse

from payments.crypto import secret_fingerprint
from payments.models import ApiCredential, AuditEvent, VccAccount
from payments.selectors.registry_export import registry_export
from payments.services import credential_save
from payments.services.registry_io import registry_import
from tests.conftest import raw_column

pytestmark = pytest.mark.django_db

SECRET = "a-secret-of-more-than-32-characters-0001"
OTHER = "another-secret-of-32-plus-characters-0002"


@pytest.fixture
def account(demo):
    return VccAccount.objects.get(name="Sandbox")


def launchable(credential) -> bool:
    return ApiCredential.objects.may_launch("staging").filter(pk=credential.pk).exists()


def rotations(credential):
    return AuditEvent.objects.filter(action="credential.secret_rotated", object_id=credential.pk)


def test_a_secret_given_to_the_constructor_gets_its_fingerprint(account):
    credential = ApiCredential(account=account, label="X", client_id="x-1", client_secret=SECRET)
    credential.save()
    credential.refresh_from_db()
    assert credential.secret_fingerprint == secret_fingerprint(SECRET)
    assert launchable(credential)
    assert not rotations(credential).exists()  # a new credential is not a rotation


def test_a_secret_given_to_create_gets_its_fingerprint(account):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    assert ApiCredential.objects.get(pk=credential.pk).secret_fingerprint == (
        secret_fingerprint(SECRET)
    )
    assert launchable(credential)


def test_an_attribute_set_and_saved_rotates_with_fingerprint_time_and_event(account):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    credential = ApiCredential.objects.get(pk=credential.pk)
    credential.client_secret = OTHER
    credential.save()
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert stored.secret_fingerprint == secret_fingerprint(OTHER)
    assert stored.last_rotated_at is not None
    event = rotations(credential).get()
    assert event.before == {"secret_fingerprint": secret_fingerprint(SECRET)}
    assert event.after == {"secret_fingerprint": secret_fingerprint(OTHER)}
    assert event.actor is None and "outside the registry services" in event.reason
    assert SECRET not in str(list(AuditEvent.objects.values()))
    assert OTHER not in str(list(AuditEvent.objects.values()))


def test_saving_the_same_secret_again_is_not_a_rotation(account):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    credential.client_secret = SECRET
    credential.save()
    credential.save(update_fields=["is_enabled"])
    assert not rotations(credential).exists()
    assert ApiCredential.objects.get(pk=credential.pk).last_rotated_at is None


def test_a_secret_saved_with_update_fields_still_gets_its_fingerprint(account):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    credential.client_secret = OTHER
    credential.save(update_fields=["client_secret"])
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert stored.secret_fingerprint == secret_fingerprint(OTHER)
    assert stored.last_rotated_at is not None


def test_credential_save_names_the_actor_of_the_rotation(account, people):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    credential_save(
        credential=credential, new_secret=OTHER, actor=people["registry"], reason="Vonage"
    )
    event = rotations(credential).get()
    assert event.actor == people["registry"] and event.reason == "Vonage"
    # The next save by another path is the system's, not the earlier actor's.
    credential.client_secret = SECRET
    credential.save()
    assert rotations(credential).order_by("id").last().actor is None


def test_a_none_secret_is_not_launchable_and_shown_as_having_none(account, admin_client):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    assert launchable(credential)
    credential.client_secret = None
    credential.save()
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert stored.secret_fingerprint == "" and not stored.has_secret
    assert raw_column("payments_apicredential", "client_secret", credential.pk) is None
    assert not launchable(credential)
    assert rotations(credential).get().after == {"secret_fingerprint": ""}
    changelist = admin_client.get(reverse("admin:payments_apicredential_changelist"))
    assert "no secret — cannot launch" in changelist.content.decode()


@pytest.mark.parametrize("field", ["client_secret", "secret_fingerprint", "last_rotated_at"])
def test_a_queryset_update_of_the_secret_is_refused(account, field):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    with pytest.raises(FieldError, match=rf"update\(\) may not write {field}.*save\(\)"):
        ApiCredential.objects.filter(pk=credential.pk).update(**{field: None})
    assert raw_column("payments_apicredential", "client_secret", credential.pk) == stored
    ApiCredential.objects.filter(pk=credential.pk).update(is_enabled=False)  # others still may


def test_a_bulk_update_of_the_secret_is_refused(account):
    credential = ApiCredential.objects.create(
        account=account, label="X", client_id="x-1", client_secret=SECRET
    )
    credential.client_secret = OTHER
    with pytest.raises(FieldError, match=r"bulk_update\(\) may not write client_secret"):
        ApiCredential.objects.bulk_update([credential], ["client_secret", "label"])
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == SECRET


def test_an_import_of_the_original_secret_reports_the_change_made_meanwhile(demo):
    """The import compared against a fingerprint the stored secret no longer matched."""
    document = registry_export()
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    original = credential.client_secret
    name = next(
        item["client_secret_env"]
        for item in document["credentials"]
        if item["client_id"] == credential.client_id
    )
    credential.client_secret = OTHER
    credential.save()
    result = registry_import(
        actor=User.objects.get(username="registry"), document=document, environ={name: original}
    )
    assert [str(change) for change in result.changes] == [
        f"~ update credential 'A' on 'Sandbox': secret: None -> 'from ${name}'"
    ]
    assert ApiCredential.objects.get(pk=credential.pk).client_secret == original
