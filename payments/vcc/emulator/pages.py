"""The PCI provider stand-in's HTML pages (agent page, customer payment link, emulator index).

They are rendered by a template engine of their own: they belong to the emulated provider,
not to the registry, so they share nothing with the registry's templates or styles.
"""

from pathlib import Path

from django.template import Context, Engine

HERE = Path(__file__).resolve().parent
STYLESHEET = (HERE / "static" / "emulator.css").read_bytes()
_engine = Engine(dirs=[str(HERE / "templates")], autoescape=True)
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def _render(name: str, context: dict) -> bytes:
    return _engine.get_template(name).render(Context(context)).encode()


def amount_text(payment_data: dict) -> str:
    amount = payment_data.get("Amount", "")
    currency = payment_data.get("Currency", "")
    if not amount:
        return "Amount not given"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}".strip()


def _session_context(session) -> dict:
    data = session.payment_data
    customer = " ".join(part for part in (data.get("FirstName"), data.get("Surname")) if part)
    return {
        "session": session,
        "amount": amount_text(data),
        "customer": customer,
        "reference": data.get("MerchantReferenceCode", ""),
        "kind_label": "Agent assist" if session.kind == "agent_assist" else "Payment link",
    }


def payment_page(session, *, complete_url: str) -> bytes:
    agent = session.kind == "agent_assist"
    amount = amount_text(session.payment_data)
    return _render(
        "emulator/pay.html",
        {
            **_session_context(session),
            "title": "Take a card payment" if agent else "Pay securely",
            "page_class": "agent" if agent else "customer",
            "complete_url": complete_url,
            "card_mask": "•••• •••• •••• ••••" if agent else "4111 •••• •••• 1111",
            "capture_hint": (
                "The caller keys the card on their phone; the digits never reach the agent."
                if agent
                else "Emulated card entry: choose the outcome to simulate below."
            ),
            "accept_label": "Accept payment" if agent else f"Pay {amount}",
        },
    )


def result_page(session, *, purge_after: float) -> bytes:
    accepted = (session.result or {}).get("decision") == "ACCEPT"
    minutes = purge_after / 60
    purge_text = f"{minutes:g} minutes" if minutes >= 1 else f"{purge_after:g} seconds"
    return _render(
        "emulator/result.html",
        {
            **_session_context(session),
            "title": "Payment accepted" if accepted else "Payment declined",
            "page_class": "result",
            "accepted": accepted,
            "decision_class": "accepted" if accepted else "declined",
            "purge_minutes": purge_text,
        },
    )


def problem_page(heading: str, message: str) -> bytes:
    return _render(
        "emulator/problem.html",
        {"title": heading, "page_class": "problem", "heading": heading, "message": message},
    )


def index_page(*, base: str, world: str, sessions, webhook_url: str, webhook_token: bool) -> bytes:
    return _render(
        "emulator/index.html",
        {
            "title": "Overview",
            "page_class": "index",
            "base": base,
            "world": world,
            "sessions": sessions[:50],
            "webhook_url": webhook_url,
            "webhook_token": webhook_token,
        },
    )
