from django.db import migrations

from payments.crypto import SecretDecryptionError, secret_fingerprint


def refingerprint(apps, schema_editor):
    """Recompute fingerprints: a secret under 32 characters no longer shows its last 4."""
    credentials = apps.get_model("payments", "ApiCredential")._base_manager
    for pk in credentials.exclude(secret_fingerprint="").values_list("pk", flat=True):
        try:
            secret = credentials.values_list("client_secret", flat=True).get(pk=pk)
        except SecretDecryptionError:
            continue  # verify_secrets reports it; the next secret set recomputes it
        fingerprint = secret_fingerprint(secret) if secret else ""
        credentials.filter(pk=pk).exclude(secret_fingerprint=fingerprint).update(
            secret_fingerprint=fingerprint
        )


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_audit_key_id_and_head_event")]

    operations = [migrations.RunPython(refingerprint, migrations.RunPython.noop)]
