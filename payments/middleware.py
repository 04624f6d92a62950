"""Request guards that run before any view."""

from django.http import HttpResponseBadRequest

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
