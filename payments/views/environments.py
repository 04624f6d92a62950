"""Staging against production, and the topology picture, both drawn from live data."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from payments.selectors.alignment import alignment_report
from payments.selectors.comparison import environment_comparison
from payments.services.promotions import PERMISSION_REQUEST
from payments.topology import topology_diagram, topology_diagrams
from payments.views.common import denied

REGISTRY_VIEW_PERMISSIONS = ("payments.view_paymentflow", "payments.view_accountconfiguration")
NO_REGISTRY_VIEW = "You may not see flows and configuration links."


@login_required
@require_GET
def environments(request):
    if not request.user.has_perms(REGISTRY_VIEW_PERMISSIONS):
        return denied(request, NO_REGISTRY_VIEW)
    return render(
        request,
        "payments/promotions/compare.html",
        {
            "groups": environment_comparison(),
            "can_request": request.user.has_perm(PERMISSION_REQUEST),
            "alignment": alignment_report(),
        },
    )


@login_required
@require_GET
def topology(request):
    if not request.user.has_perms(REGISTRY_VIEW_PERMISSIONS):
        return denied(request, NO_REGISTRY_VIEW)
    return render(request, "payments/promotions/topology.html", {"diagrams": topology_diagrams()})


@login_required
@require_GET
def topology_svg(request, slug: str):
    if not request.user.has_perms(REGISTRY_VIEW_PERMISSIONS):
        return denied(request, NO_REGISTRY_VIEW)
    diagram = topology_diagram(slug)
    if diagram is None:
        raise Http404("No such topology: use “separate” or “account-<id>” of a combined account.")
    svg = render_to_string("payments/promotions/topology.svg", {"diagram": diagram})
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="topology-{slug}.svg"'
    return response
