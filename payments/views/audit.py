"""The audit review pages: read-only timeline, a promotion's story, and exports.

Looking at or exporting the trail is itself recorded (audit.viewed, audit.exported).
"""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from payments.forms.audit import AuditFilterForm
from payments.models import AuditOutcome, Promotion
from payments.selectors.audit import (
    audit_events_filtered,
    csv_rows,
    event_changes,
    json_chunks,
)
from payments.selectors.promotions import promotions_with_related
from payments.services import audit_record, origin_of
from payments.views.common import denied, promotion_context

AUDIT_PERMISSION = "payments.view_auditevent"
EVENTS_PER_PAGE = 50
VIEWS_RECORDED_KEY = "audit_views_recorded"
VIEWS_REMEMBERED = 50
NO_AUDIT_PERMISSION = "You may not review the audit trail: that needs the Auditors group."


def _refuse(request, action: str) -> HttpResponse:
    audit_record(
        action=action,
        actor=request.user,
        outcome=AuditOutcome.DENIED,
        origin=origin_of(request),
        object_type="auditevent",
        object_repr="audit trail",
        reason=NO_AUDIT_PERMISSION,
    )
    return denied(request, NO_AUDIT_PERMISSION, recorded=True)


def _record(request, action: str, **details) -> None:
    audit_record(
        action=action,
        actor=request.user,
        origin=origin_of(request),
        object_type=details.pop("object_type", "auditevent"),
        object_id=details.pop("object_id", ""),
        object_repr=details.pop("object_repr", "audit trail"),
        after=details,
    )


def _record_once(request, action: str, **details) -> None:
    """Record a view once per sign-in session and what was viewed: reloads and pages add none."""
    shown = {key: value for key, value in details.items() if key != "page"}
    seen = request.session.get(VIEWS_RECORDED_KEY, [])
    key = f"{action} {sorted(shown.items())}"
    if key in seen:
        return
    _record(request, action, **details)
    # A short memory: a long review session still records each new question, never a flood.
    request.session[VIEWS_RECORDED_KEY] = (seen + [key])[-VIEWS_REMEMBERED:]


@login_required
@never_cache
@require_GET
def audit(request):
    if not request.user.has_perm(AUDIT_PERMISSION):
        return _refuse(request, "audit.viewed")
    form = AuditFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    filters = form.cleaned_data if form.is_bound and valid else {"sign_ins": False}
    events = audit_events_filtered(**filters) if valid else audit_events_filtered().none()
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    _record_once(request, "audit.viewed", filters=form.active_filters(), page=page.number)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "payments/audit/timeline.html",
        {
            "form": form,
            "page": page,
            "rows": [(event, event_changes(event)) for event in page.object_list],
            "query": query.urlencode(),
            "promotion_ids": _promotion_ids(page.object_list),
        },
        status=200 if valid else 400,
    )


def _promotion_ids(events) -> set[str]:
    ids = {event.object_id for event in events if event.object_type == "promotion"}
    existing = Promotion.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()])
    return {str(pk) for pk in existing.values_list("pk", flat=True)}


@login_required
@never_cache
@require_GET
def audit_export(request, file_format: str):
    if file_format not in ("csv", "json"):
        raise Http404("Export as csv or json.")
    if not request.user.has_perm(AUDIT_PERMISSION):
        return _refuse(request, "audit.exported")
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        return HttpResponse(
            f"The filters are not valid ({problems}). Fix them on the audit page and export again.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    events = audit_events_filtered(**form.cleaned_data)
    # Freeze the export at the newest matching row so the count recorded is the count sent.
    newest = events.values_list("id", flat=True).first()
    events = events.filter(id__lte=newest or 0)
    count = events.count()
    filters = form.active_filters()
    _record(request, "audit.exported", format=file_format, filters=filters, rows=count)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if file_format == "csv":
        response = StreamingHttpResponse(csv_rows(events), content_type="text/csv; charset=utf-8")
    else:
        header = {
            "exported_at_utc": timezone.now().isoformat(),
            "exported_by": request.user.get_username(),
            "filters": filters,
            "count": count,
        }
        response = StreamingHttpResponse(
            json_chunks(events, header), content_type="application/json; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{file_format}"'
    return response


@login_required
@never_cache
@require_GET
def audit_promotion(request, pk: int):
    if not request.user.has_perm(AUDIT_PERMISSION):
        return _refuse(request, "audit.viewed")
    promotion = get_object_or_404(promotions_with_related(), pk=pk)
    _record_once(
        request,
        "audit.viewed",
        object_repr=f"story of promotion #{promotion.pk}",
        promotion=promotion.pk,
    )
    return render(request, "payments/audit/promotion.html", promotion_context(request, promotion))
