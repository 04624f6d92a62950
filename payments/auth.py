"""Login protection (the lockout backend and page, audit events for logins, failed logins and
logouts), the permission backend, and Django's password pages writing through the users
service (the anonymous reset pages only when PASSWORD_RESET_ENABLED)."""

import logging

from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth import REDIRECT_FIELD_NAME, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.views import (
    INTERNAL_RESET_SESSION_TOKEN,
    PasswordChangeView,
    PasswordResetCompleteView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.dispatch import receiver
from django.forms.utils import ErrorDict
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.template import loader
from django.urls import reverse

from payments.models import AuditOutcome
from payments.services import audit_record, origin_of
from payments.services.password_reset import password_reset_record
from payments.services.users import user_set_password

logger = logging.getLogger(__name__)


class LockoutBackend(AxesStandaloneBackend):
    """Refuse logins for locked-out usernames; pass over calls that carry no request.

    Every login form passes the request. Only programmatic authenticate() calls (the test
    client's login(), scripts) come without one; they are not lockout-counted either.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a user's own and group permissions in one query, not two.

    Every API launch checks a freshly loaded user's permissions, so this query is on its path.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                permissions = Permission.objects.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = permissions.values_list("content_type__app_label", "codename").order_by()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._perm_cache


def lockout_username(request, credentials=None) -> str | None:
    """The username failures are counted for, cut to what a username can be.

    Django's login form does not limit the username's length, and axes stores it in a
    255-character column: a longer one would fail the login with a 500 on PostgreSQL.
    """
    source = credentials if credentials else request.POST
    if source.get("username") is None:
        return None
    return _username(source)


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"This account is locked after {settings.AXES_FAILURE_LIMIT} failed log-ins. "
        f"Try again in {minutes} minutes (each further attempt restarts the wait), "
        "or ask a registry admin to unlock it."
    )


def _form_with_error(form_class, request, username: str):
    form = form_class(request, initial={"username": username})
    form._errors = ErrorDict(
        {"__all__": form.error_class([lockout_message()], error_class="nonfield")}
    )
    return form


def lockout_response(request, original_response=None, credentials=None):
    """Show the login page the person used, with the lockout message (HTTP 429)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        "locked_out": True,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME, ""),
    }
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path == reverse("admin:login"):
        context |= admin.site.each_context(request)
        context |= {
            "title": "Log in",
            "app_path": request.get_full_path(),
            "form": _form_with_error(AdminAuthenticationForm, request, username),
        }
        return render(request, "admin/login.html", context, status=status)
    context["form"] = _form_with_error(AuthenticationForm, request, username)
    return render(request, "registration/login.html", context, status=status)


def _username(credentials: dict | None) -> str:
    return str((credentials or {}).get("username") or "").replace("\x00", "")[:150]


@receiver(user_logged_in, dispatch_uid="payments.audit_logged_in")
def audit_logged_in(sender, user, request=None, **kwargs):
    """PCI DSS 10.2.1: who signed in, when and from where (as for failures below)."""
    audit_record(action="auth.login", actor=user, origin=origin_of(request), obj=user)


@receiver(user_logged_out, dispatch_uid="payments.audit_logged_out")
def audit_logged_out(sender, user=None, request=None, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor=user, origin=origin_of(request), obj=user)


@receiver(user_login_failed, dispatch_uid="payments.audit_login_failed")
def audit_login_failed(sender, credentials=None, request=None, **kwargs):
    """PCI DSS 10.2.1.4: every failed login is an audit event (never the password)."""
    audit_record(
        action="auth.login_failed",
        outcome=AuditOutcome.FAILURE,
        origin=origin_of(request),
        object_type="user",
        object_repr=_username(credentials),
    )


@receiver(user_locked_out, dispatch_uid="payments.audit_locked_out")
def audit_locked_out(sender, request=None, username=None, **kwargs):
    audit_record(
        action="auth.locked_out",
        outcome=AuditOutcome.DENIED,
        origin=origin_of(request),
        object_type="user",
        object_repr=_username({"username": username}),
        reason=lockout_message(),
    )


class AuditedPasswordChangeView(PasswordChangeView):
    """Django's "change your password" page, writing (and auditing) through the users service."""

    def form_valid(self, form):
        user_set_password(
            user=form.user,
            password=form.cleaned_data["new_password1"],
            actor=self.request.user,
            origin=origin_of(self.request),
        )
        update_session_auth_hash(self.request, form.user)
        return HttpResponseRedirect(self.get_success_url())


def admin_password_change(request):
    """The admin's "change password" page (AdminSite.password_change), audited as above."""
    request.current_app = admin.site.name
    return AuditedPasswordChangeView.as_view(
        form_class=AdminPasswordChangeForm,
        success_url=reverse("admin:password_change_done"),
        extra_context=admin.site.each_context(request),
    )(request)


def account_links(request) -> dict:
    """Template context: whether the login page offers "Forgot your password?"."""
    return {"password_reset_enabled": settings.PASSWORD_RESET_ENABLED}


class PasswordResetEnabledMixin:
    """The reset pages exist only when configured: otherwise 404, as if never routed."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.PASSWORD_RESET_ENABLED:
            raise Http404("Password reset is not enabled.")
        return super().dispatch(request, *args, **kwargs)


class ReportingPasswordResetForm(PasswordResetForm):
    """Django's reset form, noting a failed send instead of logging its traceback."""

    mail_failed = False

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, **kw
    ):
        # As Django's send_mail, whose except block logs the whole traceback (SMTP host, stack)
        # on every failure: one line is enough, and the person is told (AuditedPasswordResetView).
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        message = EmailMultiAlternatives(
            subject, loader.render_to_string(email_template_name, context), from_email, [to_email]
        )
        if kw.get("html_email_template_name"):
            html = loader.render_to_string(kw["html_email_template_name"], context)
            message.attach_alternative(html, "text/html")
        try:
            message.send()
        except Exception as exc:  # any backend: SMTP refused, no route, unwritable directory
            self.mail_failed = True
            logger.warning("Password reset e-mail not sent: %s", type(exc).__name__)


class AuditedPasswordResetView(PasswordResetEnabledMixin, PasswordResetView):
    """Django's "forgot your password" page: audited, and honest when the mail cannot go."""

    form_class = ReportingPasswordResetForm
    template_name = "registration/password_reset_form.html"

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        users = list(form.get_users(email))
        redirect = super().form_valid(form)
        password_reset_record(
            email=email, users=users, sent=not form.mail_failed, origin=origin_of(self.request)
        )
        if form.mail_failed:
            form.add_error(
                None,
                "The reset e-mail could not be sent just now. Try again later, or ask a "
                "registry admin to set a new password for you.",
            )
            # 200 as any form error: a 5xx would log an ERROR and mail the admins through the same
            # broken backend.
            return self.render_to_response(self.get_context_data(form=form))
        return redirect


class PasswordResetDoneGatedView(PasswordResetEnabledMixin, PasswordResetDoneView):
    pass


class PasswordResetCompleteGatedView(PasswordResetEnabledMixin, PasswordResetCompleteView):
    pass


class AuditedPasswordResetConfirmView(PasswordResetEnabledMixin, PasswordResetConfirmView):
    """Django's "set a new password" page of a reset link: the link's owner is the actor."""

    def form_valid(self, form):
        user_set_password(
            user=form.user,
            password=form.cleaned_data["new_password1"],
            actor=form.user,
            origin=origin_of(self.request),
        )
        # As Django's own form_valid, whose form.save() would set the password a second time.
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        if self.post_reset_login:
            auth_login(self.request, form.user, self.post_reset_login_backend)
        return HttpResponseRedirect(self.get_success_url())
