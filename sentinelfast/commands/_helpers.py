"""Argument-building helpers shared by the command mixins."""

from __future__ import annotations

import datetime
import warnings
from typing import Any, Iterable, List, Optional

from ..exceptions import DataError
from ._types import AbsExpiryT, EncodableT, ExpiryT

EMPTY_RESPONSE = "EMPTY_RESPONSE"
"""Option key: value the client returns when the server answers with an error."""

NEVER_DECODE = "NEVER_DECODE"
"""Option key: read the reply as bytes even when decode_responses is on."""

_STRING_TYPES = (bytes, str, bytearray, memoryview)


def list_or_args(keys: Any, args: Optional[Iterable[Any]]) -> List[Any]:
    """Merge ``keys`` (one item or an iterable of items) and ``args`` into a new list.

    A str/bytes-like ``keys`` counts as one item even though it is iterable.
    """
    if isinstance(keys, _STRING_TYPES):
        merged = [keys]
    else:
        try:
            merged = list(keys)
        except TypeError:
            merged = [keys]
    if args:
        merged.extend(args)
    return merged


def at_most_one_set(flags: Iterable[Any]) -> bool:
    """True when no more than one of ``flags`` is truthy."""
    return sum(1 for flag in flags if flag) <= 1


def expiry_arguments(
    ex: Optional[ExpiryT] = None,
    px: Optional[ExpiryT] = None,
    exat: Optional[AbsExpiryT] = None,
    pxat: Optional[AbsExpiryT] = None,
) -> List[EncodableT]:
    """Build the EX/PX/EXAT/PXAT tokens for SET and GETEX (first given option wins)."""
    if ex is not None:
        if isinstance(ex, datetime.timedelta):
            return ["EX", int(ex.total_seconds())]
        if isinstance(ex, int):
            return ["EX", ex]
        if isinstance(ex, str) and ex.isdigit():
            return ["EX", int(ex)]
        raise DataError("ex must be datetime.timedelta or int")
    if px is not None:
        if isinstance(px, datetime.timedelta):
            return ["PX", int(px.total_seconds() * 1000)]
        if isinstance(px, int):
            return ["PX", px]
        raise DataError("px must be datetime.timedelta or int")
    if exat is not None:
        if isinstance(exat, datetime.datetime):
            exat = int(exat.timestamp())
        return ["EXAT", exat]
    if pxat is not None:
        if isinstance(pxat, datetime.datetime):
            pxat = int(pxat.timestamp() * 1000)
        return ["PXAT", pxat]
    return []


def expire_condition_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> List[str]:
    """The NX/XX/GT/LT tokens of the EXPIRE family, in redis-py's order."""
    return [
        token
        for token, wanted in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt))
        if wanted
    ]


def seconds(value: ExpiryT) -> Any:
    """A timedelta as whole seconds; anything else unchanged."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    return value


def milliseconds(value: ExpiryT) -> Any:
    """A timedelta as whole milliseconds; anything else unchanged."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return value


def mapping_to_flat_list(mapping: Any) -> List[Any]:
    """``{k1: v1, k2: v2}`` -> ``[k1, v1, k2, v2]``."""
    flat: List[Any] = []
    for pair in mapping.items():
        flat.extend(pair)
    return flat


def warn_deprecated(name: str, reason: str, version: str) -> None:
    """Emit the same DeprecationWarning text as redis-py's ``deprecated_function``."""
    warnings.warn(
        f"Call to deprecated {name}. ({reason}) -- Deprecated since version {version}.",
        category=DeprecationWarning,
        stacklevel=3,
    )
