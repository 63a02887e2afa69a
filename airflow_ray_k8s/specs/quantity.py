"""Kubernetes resource quantities (``500m``, ``4Gi``, ``2``): checking, normalizing and arithmetic."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

# The pattern the CRD schema puts on quantities (``int-or-string`` fields).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def is_quantity(value: object) -> bool:
    """Whether ``value`` is something Kubernetes accepts as a quantity."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and bool(_QUANTITY.fullmatch(value))


def normalize_quantity(value: Any) -> int | str:
    """A quantity in the form the CRD schema accepts (an integer or a string).

    Floats become strings (``0.5`` -> ``"0.5"``; the schema's ``int-or-string`` rejects JSON
    floats), integral floats become integers.

    :raises ValueError: ``value`` is not a quantity.
    """
    if isinstance(value, float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a Kubernetes quantity such as 500m, 2 or 4Gi")
        return int(value) if value.is_integer() else format(Decimal(repr(value)), "f")
    if not is_quantity(value):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2 or 4Gi")
    return value  # type: ignore[no-any-return]


def parse_quantity(value: int | float | str) -> Decimal:
    """The quantity's value in base units (cores, bytes).

    :raises ValueError: ``value`` is not a quantity.
    """
    normalized = normalize_quantity(value)
    if isinstance(normalized, int):
        return Decimal(normalized)
    text = normalized
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * factor
    try:
        return Decimal(text)  # plain numbers and exponent forms (``1e3``)
    except InvalidOperation:
        return Decimal(text[:-1]) * _DECIMAL[text[-1]]


def _validate(value: Any) -> int | str:
    return normalize_quantity(value)


#: A pydantic field type for a quantity; floats are normalized as :func:`normalize_quantity` does.
Quantity = Annotated[int | str, PlainValidator(_validate), PlainSerializer(lambda v: v)]


def format_bytes(amount: int | Decimal) -> str:
    """Bytes as a readable quantity: exact ``Ti`` / ``Gi``, else ``Mi`` rounded down, else ``Ki`` / bytes."""
    amount = int(amount)
    for suffix in ("Ti", "Gi"):
        if amount >= _BINARY[suffix] and amount % _BINARY[suffix] == 0:
            return f"{amount // _BINARY[suffix]}{suffix}"
    if amount >= _BINARY["Mi"]:
        return f"{amount // _BINARY['Mi']}Mi"
    if amount >= _BINARY["Ki"] and amount % _BINARY["Ki"] == 0:
        return f"{amount // _BINARY['Ki']}Ki"
    return str(amount)
