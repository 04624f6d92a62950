"""Bearer-token authentication: the request then acts with the token user's permissions."""

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from payments.models import ApiToken
from payments.services.api_tokens import api_token_authenticate

MISSING_TOKEN = (
    "Send the header 'Authorization: Bearer <token>' with a token issued by "
    "'python manage.py issue_api_token USERNAME'."
)
INVALID_TOKEN = (
    "This bearer token is not valid: it is unknown, revoked, or its user is inactive. "
    "Ask a registry admin for a new one."
)


class TokenAuth(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiToken:
        # Overridden so that a malformed header is never logged (it may hold a token).
        scheme, _, raw_token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw_token.strip():
            raise AuthenticationError(message=MISSING_TOKEN)
        return self.authenticate(request, raw_token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = api_token_authenticate(raw_token=token)
        if api_token is None:
            raise AuthenticationError(message=INVALID_TOKEN)
        request.user = api_token.user
        return api_token
