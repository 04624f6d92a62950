"""Request guards and answers for people that run around every view."""

from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

# The API validates its own input and answers 422 in JSON, as its clients expect.
API_PREFIX = "/api/"


class RefuseNulMiddleware:
    """Answer 400 to a NUL character in the path or the query string.

    PostgreSQL cannot store or compare text holding NUL: a search for one was a 500 there (and
    matched nothing on SQLite). No legitimate address carries one. Posted forms answer with
    their own field errors ("Null characters are not allowed."), and the API its own 422.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return HttpResponseBadRequest(
                "NUL characters (%00) are not accepted in the address or form fields.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _has_nul(request) -> bool:
    if request.path.startswith(API_PREFIX):
        return False
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in request.GET.lists()
    )


# A POST-only promotion URL opened with GET goes to the promotion's page: the address bar, a
# bookmark or a reloaded redirect sends a GET, and the page shows which steps can be taken.
_PROMOTION_ACTIONS = {"promotion_step", "promotion_schedule"}


class FriendlyNotAllowedMiddleware:
    """Django has no 405 template: replace the bare 405 with a redirect or templates/405.html."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        if request.method in ("GET", "HEAD"):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match and match.namespace == "payments" and match.url_name in _PROMOTION_ACTIONS:
                return redirect("payments:promotion", pk=match.kwargs["pk"])
        if request.path_info.startswith(("/api/", "/vcc/")):
            # The API and the VCC webhook answer machines: their 405 stays as it was.
            return response
        friendly = HttpResponseNotAllowed(
            [method.strip() for method in response["Allow"].split(",")],
            render_to_string("405.html", request=request),
        )
        return friendly
