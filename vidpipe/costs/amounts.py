"""Money amounts: Decimal rounding to the micro-dollar and the cent, and how amounts,
unit prices and quantities are written."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

Number = Decimal | float | int | str


def money(value: Number) -> Decimal:
    """A Decimal amount rounded half-up to the micro-dollar. Floats go through `str`, so
    0.1 is 0.1 and not 0.1000000000000000055."""
    if isinstance(value, float):
        value = str(value)
    try:
        return Decimal(value).quantize(MICRO, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None


def cents(value: Number) -> Decimal:
    """An amount rounded half-up to the cent: what an invoice line or a total shows."""
    return money(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_usd(value: Number) -> str:
    """`$1,234.57`: an amount shown to the cent."""
    amount = cents(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def _format_unit_price(value: Decimal) -> str:
    """A unit price with all its digits (`$0.0001`), at least two decimals."""
    text = format(value.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return f"${text}"


def _num(value: float | Decimal) -> str:
    """A quantity without noise: 142, 9.4, 0.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0").rstrip(".")
