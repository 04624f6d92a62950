"""Every error the API gives is JSON {"detail": "<what happened and what to do>"}."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from payments.refusals import api_refusal
from payments.selectors.promotions import Ambiguous, NotFound
from payments.selectors.resolve import LinkAmbiguous, LinkNotFound

logger = logging.getLogger(__name__)

NOT_FOUND = "There is no such endpoint: see /api/v1/docs for the ones there are."
NOT_JSON = "The request body is not valid JSON: send a JSON object."
INTERNAL = (
    "The registry failed to answer this request; the failure is logged. Try again later, "
    "or tell a registry admin the time it happened."
)


def problem(detail: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def _field_errors(errors: list[dict]) -> list[dict]:
    # Only where and what: pydantic's "input" would echo back the request (payment data).
    return [
        {"loc": _location(error.get("loc", ())), "msg": str(error.get("msg", ""))}
        for error in errors
    ]


def _location(loc) -> list[str]:
    parts = [str(part) for part in loc]
    # Ninja puts the view's parameter name after "body": callers only know the JSON fields.
    if len(parts) > 2 and parts[0] == "body":
        del parts[1]
    return parts


def _validation_detail(errors: list[dict]) -> str:
    parts = [f"{'.'.join(error['loc'])}: {error['msg']}" for error in errors[:5]]
    return "The request is not valid: " + "; ".join(parts) + "."


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every exception the endpoints may raise to a JSON answer with the right status."""

    @api.exception_handler(NinjaValidationError)
    def invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors = _field_errors(exc.errors)
        return problem(_validation_detail(errors), 422, errors=errors)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = problem(exc.message, 401)
        response["WWW-Authenticate"] = 'Bearer realm="vcc-registry"'
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        detail = exc.message
        if exc.status_code == 400:
            # Ninja's only 400: a body its JSON parser could not read.
            detail = NOT_JSON
        if exc.status_code == 422:
            return problem(detail, 422, errors=[{"loc": ["body"], "msg": detail}])
        return problem(detail, exc.status_code)

    @api.exception_handler(PermissionDenied)
    @api.exception_handler(DjangoValidationError)
    def refused(request: HttpRequest, exc: PermissionDenied | DjangoValidationError):
        status, body = api_refusal(exc)
        return problem(status=status, **body)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return problem(str(exc) or NOT_FOUND, 404)

    @api.exception_handler(NotFound)
    def named_thing_not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return problem(str(exc), 404)

    @api.exception_handler(Ambiguous)
    def named_thing_ambiguous(request: HttpRequest, exc: Ambiguous) -> HttpResponse:
        return problem(str(exc), 422, errors=[{"loc": ["body"], "msg": str(exc)}])

    @api.exception_handler(LinkNotFound)
    def link_not_found(request: HttpRequest, exc: LinkNotFound) -> HttpResponse:
        return problem(str(exc), 404)

    @api.exception_handler(LinkAmbiguous)
    def link_ambiguous(request: HttpRequest, exc: LinkAmbiguous) -> HttpResponse:
        return problem(str(exc), 409, candidates=exc.candidates)

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return problem(INTERNAL, 500)
