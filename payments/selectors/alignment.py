"""Configuration-id alignment across accounts: the guide's trap of ids that differ by account.

VCC's ids are per account ("they might be different in the sandbox and production accounts"),
so the same number on two accounts proves nothing. A flow's lineage is the staging flow and the
production flows promoted from it (a production flow promoted from nothing is its own lineage).
For each id used on more than one account:

- aligned: every account's link with that id starts the same lineage;
- renumbered: the id starts different lineages, but each of them is on every one of those
  accounts under some id: the accounts number the same flows differently (say which id each
  account uses);
- collision: the id starts unrelated flows, at least one absent from another account: an id
  copied from one account starts something else, or nothing, on the other.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from payments.models import AccountConfiguration, PaymentFlow

ALIGNED = "aligned"
RENUMBERED = "renumbered"
COLLISION = "collision"
STATUS_CLASSES = {ALIGNED: "ok", RENUMBERED: "warn", COLLISION: "bad"}


def lineage_of(flow: PaymentFlow) -> int:
    """The pk of the staging flow a flow comes from (its own pk when it comes from none)."""
    return flow.promoted_from_id or flow.pk


@dataclass
class Use:
    """One account's link with the id, and where the same lineage sits on the other accounts."""

    account: str
    configuration_id: int
    flow_number: int
    flow_name: str
    stage: str
    lineage: int
    # For a renumbered id: which ids the other accounts use for this lineage.
    elsewhere: dict[str, list[int]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "account": self.account,
            "flow": self.flow_number,
            "flowName": self.flow_name,
            "stage": self.stage,
            "idsElsewhere": self.elsewhere,
        }


@dataclass
class Finding:
    configuration_id: int
    status: str
    uses: list[Use]
    detail: str

    @property
    def css_class(self) -> str:
        return STATUS_CLASSES[self.status]

    def as_json(self) -> dict:
        return {
            "configurationId": self.configuration_id,
            "status": self.status,
            "detail": self.detail,
            "accounts": [use.as_json() for use in self.uses],
        }


def _uses(links) -> list[Use]:
    return [
        Use(
            account=link.account.name,
            configuration_id=link.configuration_id,
            flow_number=link.flow.number,
            flow_name=link.flow.name,
            stage=link.flow.environment.stage,
            lineage=lineage_of(link.flow),
        )
        for link in links
    ]


def alignment_report() -> list[Finding]:
    """One finding for each configuration id that active links use on more than one account."""
    links = list(
        AccountConfiguration.objects.filter(is_active=True)
        .with_related()
        .order_by("configuration_id", "account__name")
    )
    uses = _uses(links)
    by_id: dict[int, list[Use]] = defaultdict(list)
    # account -> lineage -> the ids that account uses for it
    ids_for: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for use in uses:
        by_id[use.configuration_id].append(use)
        ids_for[use.account][use.lineage].append(use.configuration_id)
    findings = []
    for number, shared in sorted(by_id.items()):
        accounts = sorted({use.account for use in shared})
        if len(accounts) < 2:
            continue
        lineages = {use.lineage for use in shared}
        if len(lineages) == 1:
            flows = " and ".join(sorted({f"{u.flow_number}" for u in shared}))
            detail = f"Id {number} starts the same flow lineage ({flows}) on {_names(accounts)}."
            findings.append(Finding(number, ALIGNED, shared, detail))
            continue
        everywhere = all(
            lineage in ids_for[account] for lineage in lineages for account in accounts
        )
        for use in shared:
            use.elsewhere = {
                account: sorted(ids_for[account].get(use.lineage, []))
                for account in accounts
                if account != use.account
            }
        if everywhere:
            moves = "; ".join(
                f"{use.account} uses it for flow {use.flow_number}, "
                + ", ".join(f"{a} uses id {_ids(ids)}" for a, ids in use.elsewhere.items())
                for use in shared
            )
            detail = f"Id {number} starts different flows on {_names(accounts)}: {moves}."
            findings.append(Finding(number, RENUMBERED, shared, detail))
        else:
            starts = "; ".join(
                f"on {use.account} flow {use.flow_number} “{use.flow_name}” ({use.stage})"
                for use in shared
            )
            detail = (
                f"Id {number} starts unrelated flows: {starts}. Never copy it between these "
                "accounts: resolve each account's own id."
            )
            findings.append(Finding(number, COLLISION, shared, detail))
    return findings


def alignment_warnings(link: AccountConfiguration) -> list[str]:
    """Warnings for an answer naming this link: its id starts other flows on other accounts."""
    lineage = lineage_of(link.flow)
    warnings = []
    for finding in alignment_report():
        if finding.configuration_id != link.configuration_id or finding.status == ALIGNED:
            continue
        others = [
            u for u in finding.uses if u.account != link.account.name and u.lineage != lineage
        ]
        if not others:
            continue
        where = "; ".join(
            f"on {u.account} it starts flow {u.flow_number} “{u.flow_name}”" for u in others
        )
        warnings.append(
            f"Configuration id {link.configuration_id} is a {finding.status} across accounts: "
            f"{where}. Use it only on {link.account.name}."
        )
    return warnings


def _names(accounts: list[str]) -> str:
    return ", ".join(accounts[:-1]) + f" and {accounts[-1]}" if len(accounts) > 1 else accounts[0]


def _ids(ids: list[int]) -> str:
    return " and ".join(str(i) for i in ids) if ids else "none"
