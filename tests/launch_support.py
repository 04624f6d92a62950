"""Helpers shared by the launch tests: recorded sessions and VCC status bodies."""

import uuid

from django.contrib.auth.models import User

from payments.models import AccountConfiguration, LaunchOutcome, PaymentSession, SessionKind


def demo_link(account: str, configuration_id: int) -> AccountConfiguration:
    return AccountConfiguration.objects.with_related().get(
        account__name=account, configuration_id=configuration_id
    )


def recorded_session(
    *, username: str = "agent", account: str = "Sandbox", configuration_id: int = 1, **fields
) -> PaymentSession:
    """A session as the launch service records it after VCC created it."""
    link = demo_link(account, configuration_id)
    credential = link.launch_credentials().first()
    values = {
        "launched_by": User.objects.get(username=username),
        "kind": SessionKind.AGENT_ASSIST,
        "account": link.account,
        "account_name": link.account.name,
        "credential": credential,
        "credential_label": credential.label,
        "link": link,
        "configuration_id": link.configuration_id,
        "flow": link.flow,
        "flow_number": link.flow.number,
        "flow_name": link.flow.name,
        "stage": link.flow.environment.stage,
        "environment_name": link.flow.environment.name,
        "agent_id": "agent1234",
        "session_guid": str(uuid.uuid4()),
        "outcome": LaunchOutcome.CREATED,
        "latency_ms": 12,
    }
    values.update(fields)
    return PaymentSession.objects.create(**values)


def status_body(session_guid: str, *, state: str = "Finished", decision: str = "ACCEPT", **extra):
    """The documented status response (also the webhook body)."""
    body = {
        "lastUpdatedOn": "2026-02-23T09:27:37.561413Z",
        "callGuid": "a0dc3aca-92f7-4cac-9f12-208a2916be7d",
        "createdOn": "2026-02-23T09:28:22.781568Z",
        "sessionGuid": session_guid,
        "sessionState": state,
        "providerSessionGuid": "7d1541fa-5747-429a-a6a0-1939f4d88028",
    }
    if decision:
        body["paymentResultData"] = {
            "decision": decision,
            "reasonCode": "100" if decision == "ACCEPT" else "481",
            "Amount": "1240",
            "Currency": "GBP",
            "MerchantReferenceCode": "0123456789098760",
            "transactionType": "Capture",
            "requestID": "5193857291616388004008",
        }
    body.update(extra)
    return body
