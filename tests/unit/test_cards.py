import pytest

from sandbox.cards import luhn_ok


@pytest.mark.parametrize(
    "number", ["4242424242424242", "4000056655665556", "5555555555554444", "378282246310005"]
)
def test_stripe_test_cards_pass_the_luhn_check(number: str) -> None:
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["4242424242424241", "4111111111111112", "378282246310006"])
def test_a_changed_last_digit_fails_the_luhn_check(number: str) -> None:
    assert not luhn_ok(number)
