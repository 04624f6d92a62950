"""Checks on what a launch sends to VCC: paymentData, amounts, currencies, phone numbers."""

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# ISO 4217 currencies in circulation (funds, precious metals and test codes left out).
ISO_4217_CODES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES
    KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
    TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()
)
COMMON_CURRENCIES = ["GBP", "EUR", "USD", "PLN", "CHF", "SEK", "NOK", "DKK", "CAD", "AUD"]

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
PHONE_SEPARATORS = re.compile(r"[\s\-().]")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

MAX_PAYMENT_DATA_KEYS = 50
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 500
MAX_AMOUNT = Decimal("1000000")


def amount_normalise(value) -> str:
    """Return an amount as VCC expects it ("12.40"), or raise ValidationError."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(
            f"Amount {str(value)[:20]!r} is not a number: write it like 12.40."
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("Amount must be more than zero, e.g. 12.40.")
    if amount >= MAX_AMOUNT:
        raise ValidationError("Amount must be under 1,000,000 for a test session.")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ValidationError("Amount can have at most 2 decimal places, e.g. 12.40.")
    return str(amount.quantize(Decimal("0.01")))


def currency_normalise(value) -> str:
    """Return an ISO 4217 code in capitals, or raise ValidationError."""
    code = str(value).strip().upper()
    if code not in ISO_4217_CODES:
        raise ValidationError(
            f"{str(value)[:10]!r} is not an ISO 4217 currency code: use three letters such as GBP, "
            "EUR or USD."
        )
    return code


def phone_normalise(value) -> str:
    """Return a phone number in E.164 (+447700900123), or raise ValidationError."""
    number = PHONE_SEPARATORS.sub("", str(value))
    if not E164.match(number):
        raise ValidationError(
            "Enter the customer's phone number in international E.164 form: a plus sign, the "
            "country code and the number, e.g. +447700900123."
        )
    return number


def payment_data_validate(data, *, kind: str) -> dict[str, str]:
    """Return paymentData with Amount, Currency and CustomerPhoneNumber normalised.

    Raises ValidationError with one message per problem; kind is a SessionKind value.
    """
    if not isinstance(data, dict):
        raise ValidationError("paymentData must be a JSON object of text keys and text values.")
    errors = []
    if len(data) > MAX_PAYMENT_DATA_KEYS:
        errors.append(f"paymentData has {len(data)} keys; at most {MAX_PAYMENT_DATA_KEYS} fit.")
    cleaned: dict[str, str] = {}
    for key, value in list(data.items())[:MAX_PAYMENT_DATA_KEYS]:
        if not isinstance(key, str) or not key.strip():
            errors.append("paymentData keys must be non-empty text.")
            continue
        shown = key[:MAX_KEY_LENGTH]
        if len(key) > MAX_KEY_LENGTH or CONTROL_CHARACTERS.search(key) or key != key.strip():
            errors.append(
                f"paymentData key {shown!r} must be at most {MAX_KEY_LENGTH} characters, with no "
                "control characters or surrounding spaces."
            )
            continue
        if not isinstance(value, str):
            errors.append(
                f'paymentData value of {shown!r} must be text: put it in quotes, e.g. "12.40".'
            )
            continue
        if len(value) > MAX_VALUE_LENGTH or CONTROL_CHARACTERS.search(value):
            errors.append(
                f"paymentData value of {shown!r} must be at most {MAX_VALUE_LENGTH} characters, "
                "with no control characters."
            )
            continue
        cleaned[key] = value
    normalisers = {
        "Amount": amount_normalise,
        "Currency": currency_normalise,
        "CustomerPhoneNumber": phone_normalise,
    }
    for key, normalise in normalisers.items():
        if key in cleaned:
            try:
                cleaned[key] = normalise(cleaned[key])
            except ValidationError as exc:
                errors.extend(exc.messages)
    if kind == "digital" and "CustomerPhoneNumber" not in cleaned and not errors:
        errors.append(
            ValidationError(
                "A digital session needs the customer's phone number (CustomerPhoneNumber) to "
                "send the payment link to.",
                code="phone_required",
            )
        )
    if "Amount" in cleaned and "Currency" not in cleaned and not errors:
        errors.append("paymentData has an Amount but no Currency: add one such as GBP.")
    if errors:
        raise ValidationError(errors)
    return cleaned
