"""One change of a promotion's change set: create a production flow, link one, switch one off."""

from django.db import models
from django.db.models import Q


class ChangeKind(models.TextChoices):
    CREATE_FLOW = "create_flow", "Create production flow"
    LINK = "link", "Link the production flow"
    DEACTIVATE = "deactivate", "Switch a production link off"


class PromotionChange(models.Model):
    """A row of a change set; the rows a promotion's apply created or changed are kept on it."""

    # No index of its own: the unique (promotion, position) index starts with it.
    promotion = models.ForeignKey(
        "payments.Promotion", on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    # create_flow: the number the PCI provider gave the new flow on the promotion's node.
    flow_number = models.PositiveIntegerField(null=True, blank=True)
    # link: where the production flow is linked, and the id Vonage provisioned there.
    account = models.ForeignKey(
        "payments.VccAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotion_changes",
    )
    configuration_id = models.PositiveIntegerField(null=True, blank=True)
    # create_flow: the flow applying created; link: the flow it links (null until applied when
    # the set creates it).
    flow = models.ForeignKey(
        "payments.PaymentFlow",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotion_changes",
    )
    # deactivate: the link switched off; link: the link applying created.
    link = models.ForeignKey(
        "payments.AccountConfiguration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promotion_changes",
    )
    # link: applying switched the (rolled back) production flow on again; rollback undoes it.
    flow_reactivated = models.BooleanField(default=False)

    class Meta:
        ordering = ["promotion", "position"]
        verbose_name = "promotion change"
        constraints = [
            models.UniqueConstraint(
                fields=["promotion", "position"], name="promotionchange_position_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ChangeKind.values), name="promotionchange_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind=ChangeKind.CREATE_FLOW) | Q(flow_number__isnull=False),
                name="promotionchange_create_flow_has_number",
            ),
            models.CheckConstraint(
                condition=~Q(kind=ChangeKind.LINK)
                | Q(account__isnull=False, configuration_id__isnull=False),
                name="promotionchange_link_has_account_and_id",
            ),
            models.CheckConstraint(
                condition=~Q(kind=ChangeKind.DEACTIVATE) | Q(link__isnull=False),
                name="promotionchange_deactivate_has_link",
            ),
        ]

    def __str__(self):
        return self.describe()

    def describe(self, new_flow_number: int | None = None) -> str:
        """The change in words, the same before and after it is applied."""
        if self.kind == ChangeKind.CREATE_FLOW:
            return f"create production flow {self.flow_number}"
        if self.kind == ChangeKind.LINK:
            number = self.flow.number if self.flow_id else new_flow_number
            return f"link {self.account.name} id {self.configuration_id} → flow {number}"
        return (
            f"switch off {self.link.account.name} id {self.link.configuration_id} → "
            f"flow {self.link.flow.number}"
        )
