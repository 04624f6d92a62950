"""The integration API under /api/v1/: bearer tokens, resolve, sessions, promotions, docs."""

from ninja import NinjaAPI

from payments.api import alignment, promotions, resolve, sessions
from payments.api.auth import TokenAuth
from payments.api.errors import install_error_handlers

DESCRIPTION = """
Ask the registry which VCC account, credentials and `accountConfigurationId` start a payment
flow, launch payment sessions without holding the VCC secrets, and request and approve
promotions of staging flows to production (the same rules and audit trail as the pages).

Authenticate with `Authorization: Bearer <token>`; a registry admin issues tokens with
`python manage.py issue_api_token USERNAME` and revokes them in the admin. A token acts with
its user's permissions. Every error is JSON: `{"detail": "<what happened and what to do>"}`.
"""

api = NinjaAPI(
    title="VCC Registry integration API",
    version="1",
    description=DESCRIPTION.strip(),
    auth=TokenAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_router("", resolve.router)
api.add_router("", sessions.router)
api.add_router("", promotions.router)
api.add_router("", alignment.router)
