import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.validators import (
    amount_normalise,
    currency_normalise,
    payment_data_validate,
    phone_normalise,
)


@pytest.mark.parametrize(
    ("given_amount", "sent"), [("12.4", "12.40"), (" 7 ", "7.00"), ("0.01", "0.01")]
)
def test_amount_is_sent_with_two_decimals(given_amount, sent):
    assert amount_normalise(given_amount) == sent


@pytest.mark.parametrize(
    "amount", ["0", "-1", "0.00", "12.345", "abc", "NaN", "sNaN", "Infinity", "1e9", "", "1e-999"]
)
def test_amount_must_be_positive_with_at_most_two_decimals(amount):
    with pytest.raises(ValidationError):
        amount_normalise(amount)


def test_currency_is_an_iso_4217_code_in_capitals():
    assert currency_normalise(" gbp ") == "GBP"


@pytest.mark.parametrize("code", ["XYZ", "GB", "POUND", "", "XAU"])
def test_currency_outside_iso_4217_is_refused(code):
    with pytest.raises(ValidationError, match="ISO 4217"):
        currency_normalise(code)


def test_phone_separators_are_dropped_for_e164():
    assert phone_normalise("+44 7700-900 123") == "+447700900123"


@pytest.mark.parametrize("phone", ["07700900123", "+0123456", "+44 77OO", "+1234567890123456", "+"])
def test_phone_not_in_e164_is_refused(phone):
    with pytest.raises(ValidationError, match="E.164"):
        phone_normalise(phone)


def test_payment_data_normalises_amount_and_currency():
    data = payment_data_validate({"Amount": "5", "Currency": "eur"}, kind="agent_assist")
    assert data == {"Amount": "5.00", "Currency": "EUR"}


def test_payment_data_values_must_be_text():
    with pytest.raises(ValidationError, match="must be text"):
        payment_data_validate({"Amount": 12.4, "Currency": "GBP"}, kind="agent_assist")


def test_digital_payment_data_needs_the_customer_phone():
    with pytest.raises(ValidationError, match="CustomerPhoneNumber"):
        payment_data_validate({"Amount": "1.00", "Currency": "GBP"}, kind="digital")


def test_amount_without_currency_is_refused():
    with pytest.raises(ValidationError, match="no Currency"):
        payment_data_validate({"Amount": "1.00"}, kind="agent_assist")


def test_payment_data_keys_with_control_characters_are_refused():
    with pytest.raises(ValidationError, match="control characters"):
        payment_data_validate({"First\nName": "Jo"}, kind="agent_assist")


def test_payment_data_with_too_many_keys_is_refused():
    with pytest.raises(ValidationError, match="at most 50"):
        payment_data_validate({f"Key{n}": "x" for n in range(51)}, kind="agent_assist")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.dictionaries(st.text(max_size=70), st.one_of(st.text(max_size=600), st.integers())),
        st.lists(st.text()),
        st.text(),
        st.none(),
    ),
    st.sampled_from(["agent_assist", "digital", "nonsense"]),
)
def test_payment_data_is_either_a_clean_string_map_or_refused_with_messages(data, kind):
    try:
        cleaned = payment_data_validate(data, kind=kind)
    except ValidationError as exc:
        assert exc.messages and all(message.strip() for message in exc.messages)
        return
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in cleaned.items())
