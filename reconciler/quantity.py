"""Kubernetes resource quantities: parsing and the canonical form the API server returns.

The API server re-serialises every quantity it stores (``1000m`` -> ``1``, ``1024Mi`` -> ``1Gi``,
``0.5`` -> ``500m``). The renderer emits that form and the sandbox stores it, so a live object
never differs from what was applied.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from reconciler.errors import ReconcilerError

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_BY_POWER = {power: suffix for suffix, power in _BINARY.items()}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
_NANO = Decimal("1e-9")


class QuantityError(ReconcilerError):
    """Not a quantity the API server would accept."""


def parse(text: str | int | float) -> tuple[Decimal, str]:
    """Return the value and its format: ``binary``, ``decimal`` or ``exponent``."""
    raw = str(text).strip()
    match = _PATTERN.match(raw)
    if not match:
        raise QuantityError(f"{raw!r} is not a Kubernetes quantity (like 500m, 2, 1.5Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise QuantityError(f"{raw!r} is not a number") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix]), "binary"
    if len(suffix) > 1:  # e3, E-2: an exponent; a lone E is the exa suffix
        return number.scaleb(int(suffix[1:])), "exponent"
    return number.scaleb(_DECIMAL[suffix]), "decimal"


def canonical(text: str | int | float) -> str:
    """The string the API server stores for this quantity."""
    value, fmt = parse(text)
    try:
        return _canonical(value, fmt)
    except InvalidOperation as exc:  # more digits than nanounit precision can hold
        raise QuantityError(f"{str(text).strip()!r} is out of range") from exc


def _canonical(value: Decimal, fmt: str) -> str:
    # The server keeps nanounit precision and rounds away from zero beyond it.
    value = (
        value.quantize(_NANO, rounding=ROUND_CEILING)
        if value >= 0
        else -((-value).quantize(_NANO, rounding=ROUND_CEILING))
    )
    if value == 0:
        return "0"
    if fmt == "binary" and abs(value) >= 1024 and value == value.to_integral_value():
        power = 0
        integer = int(value)
        while power < 6 and integer % 1024 == 0:
            integer //= 1024
            power += 1
        return f"{integer}{_BINARY_BY_POWER.get(power, '')}"
    exponent = -9
    mantissa = int(value.scaleb(9))
    while exponent < 18 and mantissa % 1000 == 0:
        mantissa //= 1000
        exponent += 3
    if fmt == "exponent":
        return str(mantissa) if exponent == 0 else f"{mantissa}e{exponent}"
    return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
