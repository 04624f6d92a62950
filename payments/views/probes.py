"""The Link health page: each link's last probe, the accounts × ids matrix, and probing."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from payments.models import AccountConfiguration, Stage
from payments.selectors.probes import link_health_matrix
from payments.services import origin_of
from payments.services.probes import (
    PERMISSION_PROBE,
    PERMISSION_PROBE_PRODUCTION,
    link_probe,
    links_probe,
)
from payments.views.common import denied

PERMISSION_VIEW = "payments.view_linkprobe"
NO_VIEW = "You may not see link health: ask a registry admin for the Auditors role."


class ProbeForm(forms.Form):
    link = forms.IntegerField(required=False, widget=forms.HiddenInput)
    confirm_account_name = forms.CharField(required=False, max_length=100)


@login_required
@require_GET
def link_health(request):
    if not request.user.has_perm(PERMISSION_VIEW):
        return denied(request, NO_VIEW)
    matrix = link_health_matrix()
    return render(
        request,
        "payments/probes/health.html",
        {
            "matrix": matrix,
            "counts": matrix.counts(),
            "can_probe": request.user.has_perm(PERMISSION_PROBE),
            "can_probe_production": request.user.has_perm(PERMISSION_PROBE_PRODUCTION),
        },
    )


@login_required
@require_POST
def link_health_probe(request):
    """Probe one link (production: typed confirmation), or every active staging link."""
    back = redirect("payments:link_health")
    form = ProbeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a link to probe.")
        return back
    try:
        if form.cleaned_data["link"]:
            link = get_object_or_404(
                AccountConfiguration.objects.with_related(), pk=form.cleaned_data["link"]
            )
            results = [
                link_probe(
                    link=link,
                    actor=request.user,
                    origin=origin_of(request),
                    include_production=link.flow.environment.stage == Stage.PRODUCTION,
                    confirm_account_name=form.cleaned_data["confirm_account_name"],
                )
            ]
        else:
            if not request.user.has_perm(PERMISSION_PROBE):
                raise PermissionDenied("You may not probe links.")
            results = links_probe(
                actor=request.user, origin=origin_of(request), stage=Stage.STAGING
            )
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return back
    # One line for the run: the failing links, with VCC's words and what to do, are in the
    # page's red box right below; one message per link pushed the matrix out of view.
    failed = [result.probe for result in results if not result.ok]
    if len(results) == 1 and not failed:
        messages.success(request, f"{results[0].probe.link}: {results[0].probe.message}")
    elif results and not failed:
        messages.success(request, f"All {len(results)} links probed answer: VCC started each.")
    elif results:
        names = "; ".join(str(probe.link) for probe in failed)
        messages.error(
            request,
            f"{len(results)} link(s) probed, {len(failed)} refused by VCC: {names}. "
            "See why and what to do below.",
        )
    if not results:
        messages.info(request, "No active staging links to probe.")
    return back
