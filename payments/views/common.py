"""What several page modules share: the 403 page and a promotion's context."""

from django.http import HttpResponse
from django.shortcuts import render

from payments.models import AccountConfiguration, Promotion, Stage
from payments.selectors.audit import event_changes, promotion_story, sessions_since_promotion
from payments.selectors.promotions import change_rows
from payments.services.promotions import promotion_problems


def denied(
    request, message: str, *, recorded: bool = False, group_can_help: bool = True
) -> HttpResponse:
    """The 403 page, saying what was refused and what to do."""
    context = {"message": message, "recorded": recorded, "group_can_help": group_can_help}
    return render(request, "payments/promotions/denied.html", context, status=403)


def promotion_context(request, promotion: Promotion) -> dict:
    """What the promotion page and the audit story page both show."""
    account = promotion.target_account
    current_links = (
        AccountConfiguration.objects.filter(account=account)
        .for_stage(Stage.PRODUCTION)
        .select_related("flow")
        .order_by("configuration_id")
    )
    problems = []
    if promotion.is_pending:
        for messages_of_field in promotion_problems(promotion=promotion).values():
            problems.extend(messages_of_field)
    sessions = sessions_since_promotion(promotion)
    return {
        "promotion": promotion,
        "change_rows": change_rows(promotion),
        "story": [(event, event_changes(event)) for event in promotion_story(promotion)],
        "current_links": current_links,
        "launch_credentials": account.credentials.enabled().for_stage(Stage.PRODUCTION),
        "problems": problems,
        "sessions": sessions[:50],
        "session_count": sessions.count(),
        "can_see_sessions": request.user.has_perm("payments.view_all_sessions"),
    }
