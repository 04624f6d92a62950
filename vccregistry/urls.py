from django.contrib import admin
from django.urls import include, path

from payments import auth
from payments.webhooks import vcc_webhook

urlpatterns = [
    # Django's password pages, writing through the users service (audited): before their own.
    path("admin/password_change/", admin.site.admin_view(auth.admin_password_change)),
    path("admin/", admin.site.urls),
    path("accounts/password_change/", auth.AuditedPasswordChangeView.as_view()),
    # The anonymous reset pages answer 404 unless PASSWORD_RESET_ENABLED (payments/auth.py).
    path("accounts/password_reset/", auth.AuditedPasswordResetView.as_view()),
    path("accounts/password_reset/done/", auth.PasswordResetDoneGatedView.as_view()),
    path("accounts/reset/<uidb64>/<token>/", auth.AuditedPasswordResetConfirmView.as_view()),
    path("accounts/reset/done/", auth.PasswordResetCompleteGatedView.as_view()),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("payments.api.urls")),
    path("vcc/webhook/", vcc_webhook, name="vcc_webhook"),
    path("", include("payments.urls")),
]
