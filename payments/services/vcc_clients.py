"""The VCC client for a stored credential: the registry's rows turned into the client's settings."""

from payments.models import ApiCredential
from payments.vcc.client import VccClient
from payments.vcc.config import VccClientConfig
from payments.vcc.regions import base_urls


def vcc_client_for(
    credential: ApiCredential, *, config: VccClientConfig | None = None
) -> VccClient:
    """A client for the credential, on its account's base URLs (the region's when left blank)."""
    account = credential.account
    auth_base_url, payment_base_url = base_urls(
        account.region,
        auth_base_url=account.auth_base_url,
        payment_base_url=account.payment_base_url,
    )
    return VccClient(
        auth_base_url=auth_base_url,
        payment_base_url=payment_base_url,
        client_id=credential.client_id,
        client_secret=credential.client_secret or "",
        account_name=account.name,
        credential_label=credential.label,
        config=config,
    )
