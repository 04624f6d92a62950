"""Method-not-allowed pages for people: a step URL typed in the address bar opens its page."""

from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

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
