"""Build the paymentData to send from what a person typed (the launch page and the CLI).

Only the shape is built here; the launch service checks and normalises it (Amount, Currency,
CustomerPhoneNumber, a digital session's phone) whichever door it came through.
"""

import json
from collections.abc import Mapping

from django.core.exceptions import ValidationError

from payments.models import SessionKind

# Typed inputs and the paymentData keys they fill, in the order VCC documents them.
INPUT_KEYS = {
    "first_name": "FirstName",
    "surname": "Surname",
    "email": "Email",
    "street1": "Street1",
    "city": "City",
    "postcode": "Postcode",
    "country": "Country",
    "amount": "Amount",
    "currency": "Currency",
    "merchant_reference": "MerchantReferenceCode",
    "customer_phone": "CustomerPhoneNumber",
}
EXAMPLE = '{"BillingCountry": "GB"}'


def payment_data_parse(text: str) -> dict[str, str]:
    """Return the JSON object of text values a person wrote, or raise ValidationError."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(
            f"This is not valid JSON ({str(exc)[:120]}): write an object such as {EXAMPLE}.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"paymentData must be a JSON object such as {EXAMPLE}.", code="not_an_object"
        )
    bad = [key for key, value in data.items() if not isinstance(value, str)]
    if bad:
        raise ValidationError(
            f"Every paymentData value must be text in quotes; {', '.join(bad[:5])[:200]} "
            'is not (write "12.40", not 12.40).',
            code="not_text",
        )
    return data


def payment_data_from_input(
    values: Mapping[str, object], *, kind: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return paymentData from typed inputs (INPUT_KEYS names) with extra merged over them.

    The customer's phone is sent only with a digital session: that is what it is for.
    """
    typed = {
        key: str(values[name])
        for name, key in INPUT_KEYS.items()
        if values.get(name) and not (name == "customer_phone" and kind != SessionKind.DIGITAL)
    }
    return {**typed, **(extra or {})}
