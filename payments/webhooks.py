"""The receiver of VCC's session status webhooks (POST /vcc/webhook/)."""

import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from payments.refusals import refusal_message, refusal_status
from payments.services import origin_of, session_apply_status
from payments.services.webhook_audit import webhook_refusal_record
from payments.vcc.client import SessionStatus
from payments.vcc.errors import VccProtocolError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@csrf_exempt  # VCC authenticates with a bearer token, not a browser session
def vcc_webhook(request):
    """Store a session status VCC sends; 200 only once it is stored, so VCC retries otherwise."""
    response = _receive(request)
    if response.status_code >= 400 and request.method == "POST":
        # Registry admins are told (rate-limited per sender): a refused webhook is a session
        # whose outcome the registry never learns.
        webhook_refusal_record(reason=response_error(response), origin=origin_of(request))
    return response


def response_error(response: JsonResponse) -> str:
    return json.loads(response.content).get("error", "")


def _receive(request):
    if request.method != "POST":
        response = _refuse(405, "Only POST is accepted: VCC posts session statuses here.")
        response["Allow"] = "POST"
        return response
    expected = settings.VCC_WEBHOOK_TOKEN
    if not expected:
        logger.error(
            "VCC webhook refused: VCC_WEBHOOK_TOKEN is not set, so no webhook can be "
            "authenticated. Set it to the bearer token VCC (or the emulator) presents."
        )
        return _refuse(503, "This receiver is not configured yet; VCC will retry later.")
    if not _bearer_matches(request, expected):
        logger.warning(
            "VCC webhook refused from %s: missing or wrong bearer token", origin_of(request)
        )
        response = _refuse(401, "Missing or wrong bearer token.")
        response["WWW-Authenticate"] = 'Bearer realm="vcc-webhook"'
        return response

    try:
        payload = _json_body(request)
    except ValidationError as exc:
        return _refuse(refusal_status(exc, invalid=400), refusal_message(exc))
    try:
        status = SessionStatus.from_payload(payload)
    except VccProtocolError as exc:
        return _refuse(400, f"Not a VCC session status: {exc.message}")
    try:
        session = session_apply_status(status=status, source="webhook")
    except ValidationError as exc:
        return _refuse(refusal_status(exc, invalid=400), refusal_message(exc))
    except DatabaseError:
        logger.exception("VCC webhook for %r could not be stored", status.session_guid[:64])
        return _refuse(503, "The status could not be stored just now; retry later.")
    if session is None:
        logger.warning("VCC webhook for unknown sessionGuid %r", status.session_guid[:64])
        return _refuse(404, "No session with this sessionGuid was launched from this registry.")
    logger.info(
        "VCC webhook stored for session %s: sessionState=%s decision=%s",
        session.pk,
        session.session_state,
        session.decision,
    )
    return JsonResponse(
        {
            "stored": True,
            "sessionGuid": session.session_guid,
            "sessionState": session.session_state,
        }
    )


def _bearer_matches(request, expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _json_body(request) -> dict:
    """The body as a JSON object, or ValidationError (code too_large: answered with 413)."""
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    too_large = ValidationError(
        f"The body is too large: a session status is well under {MAX_BODY_BYTES} bytes.",
        code="too_large",
    )
    if declared > MAX_BODY_BYTES:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationError(
            "The body is not JSON: send the session status object VCC documents.", code="not_json"
        ) from None
    if not isinstance(payload, dict):
        raise ValidationError(
            "The body must be a JSON object: the session status VCC documents.", code="not_object"
        )
    return payload


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)
