import functools

from django.urls import path, re_path

from payments.api import api
from payments.api.errors import NOT_FOUND, problem


def _json_method_not_allowed(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and response.get("Content-Type", "").startswith("text"):
            allowed = response["Allow"]
            response = problem(f"{request.method} is not allowed here; use {allowed}.", 405)
            response["Allow"] = allowed
        return response

    return wrapper


def endpoint_not_found(request, *args, **kwargs):
    return problem(NOT_FOUND, 404)


# Not named app_name: this module is include()d and must not add a namespace of its own.
api_patterns, api_app_name, api_namespace = api.urls
for pattern in api_patterns:
    pattern.callback = _json_method_not_allowed(pattern.callback)

urlpatterns = [
    path("", (api_patterns, api_app_name, api_namespace)),
    re_path(r"", endpoint_not_found),
]
