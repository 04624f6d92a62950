from django.contrib import admin
from django.urls import include, path

from payments.webhooks import vcc_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("payments.api.urls")),
    path("vcc/webhook/", vcc_webhook, name="vcc_webhook"),
    path("", include("payments.urls")),
]
