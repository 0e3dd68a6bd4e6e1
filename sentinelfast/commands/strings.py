"""String commands (GET, SET, INCR, ...), as in redis-py's ``BasicKeyCommands``."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ..exceptions import DataError
from ._helpers import (
    EMPTY_RESPONSE,
    at_most_one_set,
    expiry_arguments,
    list_or_args,
    mapping_to_flat_list,
    milliseconds,
    seconds,
    warn_deprecated,
)
from ._base import CommandMixin
from ._types import AbsExpiryT, EncodableT, ExpiryT, KeysT, KeyT


class StringCommands(CommandMixin):
    """String-value commands."""

    __slots__ = ()

    def get(self, name: KeyT) -> Union[bytes, str, None]:
        """Return the value at key ``name``, or None if the key doesn't exist."""
        return self.execute_command("GET", name, keys=[name])

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        ifeq: Union[bytes, str, None] = None,
        ifne: Union[bytes, str, None] = None,
        ifdeq: Optional[str] = None,
        ifdne: Optional[str] = None,
    ) -> Union[bool, bytes, str, None]:
        """Set the value at key ``name`` to ``value``.

        ``ex``/``px`` expire after seconds/milliseconds (int or timedelta),
        ``exat``/``pxat`` at a unix time (int or datetime); ``keepttl`` keeps
        the current TTL. These are mutually exclusive. ``nx`` sets only if the
        key doesn't exist, ``xx`` only if it does; ``ifeq``/``ifne`` compare the
        current value and ``ifdeq``/``ifdne`` its hex digest (Redis 8.4+); the
        conditions are mutually exclusive. With ``get=True`` the old value is
        returned instead of True/None.
        """
        if (ex is None and px is None and exat is None and pxat is None and not keepttl
                and not nx and not xx and not get and ifeq is None and ifne is None
                and ifdeq is None and ifdne is None):
            return self.execute_command("SET", name, value)   # the common case, fast
        if not at_most_one_set(
            (ex is not None, px is not None, exat is not None, pxat is not None, keepttl)
        ):
            raise DataError(
                "``ex``, ``px``, ``exat``, ``pxat``, "
                "and ``keepttl`` are mutually exclusive."
            )
        conditions = (
            ("NX", nx, None),
            ("XX", xx, None),
            ("IFEQ", ifeq is not None, ifeq),
            ("IFNE", ifne is not None, ifne),
            ("IFDEQ", ifdeq is not None, ifdeq),
            ("IFDNE", ifdne is not None, ifdne),
        )
        if not at_most_one_set(given for _, given, _ in conditions):
            raise DataError(
                "``nx``, ``xx``, ``ifeq``, ``ifne``, ``ifdeq``, ``ifdne`` "
                "are mutually exclusive."
            )
        pieces: list = [name, value]
        for token, given, operand in conditions:
            if given:
                pieces.append(token)
                if operand is not None:
                    pieces.append(operand)
                break
        options = {}
        if get:
            pieces.append("GET")
            options["get"] = True
        pieces.extend(expiry_arguments(ex, px, exat, pxat))
        if keepttl:
            pieces.append("KEEPTTL")
        return self.execute_command("SET", *pieces, **options)

    def __getitem__(self, name: KeyT) -> Union[bytes, str]:
        """Return the value at key ``name``; raise KeyError if it doesn't exist."""
        value = self.get(name)
        if value is not None:
            return value
        raise KeyError(name)

    def __setitem__(self, name: KeyT, value: EncodableT) -> None:
        self.set(name, value)

    def mget(self, keys: KeysT, *args: EncodableT) -> list:
        """Return the values of ``keys`` (and ``args``) in order; None for missing keys."""
        names = list_or_args(keys, args)
        options: dict = {}
        if not names:
            options[EMPTY_RESPONSE] = []
        options["keys"] = names
        return self.execute_command("MGET", *names, **options)

    def mset(self, mapping: Mapping[Any, EncodableT]) -> bool:
        """Set every key of ``mapping`` to its value."""
        return self.execute_command("MSET", *mapping_to_flat_list(mapping))

    def msetnx(self, mapping: Mapping[Any, EncodableT]) -> bool:
        """Set every key of ``mapping`` only if none of them exists; True if set."""
        return self.execute_command("MSETNX", *mapping_to_flat_list(mapping))

    def incrby(self, name: KeyT, amount: int = 1) -> int:
        """Increment the integer at ``name`` by ``amount`` (a missing key counts as 0)."""
        return self.execute_command("INCRBY", name, amount)

    incr = incrby

    def incrbyfloat(self, name: KeyT, amount: float = 1.0) -> float:
        """Increment the number at ``name`` by the float ``amount``; return the new value."""
        return self.execute_command("INCRBYFLOAT", name, amount)

    def decrby(self, name: KeyT, amount: int = 1) -> int:
        """Decrement the integer at ``name`` by ``amount`` (a missing key counts as 0)."""
        return self.execute_command("DECRBY", name, amount)

    decr = decrby

    def append(self, key: KeyT, value: EncodableT) -> int:
        """Append ``value`` to the string at ``key``; return the new length."""
        return self.execute_command("APPEND", key, value)

    def getdel(self, name: KeyT) -> Union[bytes, str, None]:
        """Return the value at ``name`` and delete the key."""
        return self.execute_command("GETDEL", name)

    def getex(
        self,
        name: KeyT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        persist: bool = False,
    ) -> Union[bytes, str, None]:
        """Return the value at ``name`` and optionally change its expiry.

        ``ex``, ``px``, ``exat``, ``pxat`` and ``persist`` are mutually exclusive.
        """
        if not at_most_one_set(
            (ex is not None, px is not None, exat is not None, pxat is not None, persist)
        ):
            raise DataError(
                "``ex``, ``px``, ``exat``, ``pxat``, "
                "and ``persist`` are mutually exclusive."
            )
        pieces = expiry_arguments(ex, px, exat, pxat)
        if persist:
            pieces.append("PERSIST")
        return self.execute_command("GETEX", name, *pieces)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> bool:
        """Set ``name`` to ``value`` expiring in ``time`` seconds (deprecated: use set)."""
        warn_deprecated("setex", "Use 'set' instead.", "2.6.12")
        return self.execute_command("SETEX", name, seconds(time), value)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> bool:
        """Set ``name`` to ``value`` expiring in ``time_ms`` milliseconds."""
        return self.execute_command("PSETEX", name, milliseconds(time_ms), value)

    def setnx(self, name: KeyT, value: EncodableT) -> bool:
        """Set ``name`` to ``value`` only if the key doesn't exist; True if set."""
        return self.execute_command("SETNX", name, value)

    def strlen(self, name: KeyT) -> int:
        """Return the length in bytes of the string at ``name``."""
        return self.execute_command("STRLEN", name, keys=[name])

    def getrange(self, key: KeyT, start: int, end: int) -> Union[bytes, str]:
        """Return the substring of ``key`` between ``start`` and ``end`` (inclusive)."""
        return self.execute_command("GETRANGE", key, start, end, keys=[key])

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> int:
        """Overwrite the string at ``name`` from ``offset`` with ``value``; return length."""
        return self.execute_command("SETRANGE", name, offset, value)

    def getset(self, name: KeyT, value: EncodableT) -> Union[bytes, str, None]:
        """Set ``name`` to ``value`` and return the old value."""
        return self.execute_command("GETSET", name, value)
