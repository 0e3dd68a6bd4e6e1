"""Set commands (SADD, SMEMBERS, SSCAN, ...), as in redis-py's ``SetCommands``."""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Set

from ._base import CommandMixin
from ._helpers import list_or_args
from ._types import FieldT, KeyT, PatternT


class SetCommands(CommandMixin):
    """Commands on set values."""

    __slots__ = ()

    def sadd(self, name: KeyT, *values: FieldT) -> int:
        """Add ``values`` to set ``name``; return how many were new."""
        return self.execute_command("SADD", name, *values)

    def srem(self, name: KeyT, *values: FieldT) -> int:
        """Remove ``values`` from set ``name``; return how many were present."""
        return self.execute_command("SREM", name, *values)

    def smembers(self, name: KeyT) -> Set[Any]:
        """Return the members of set ``name`` as a Python set."""
        return self.execute_command("SMEMBERS", name, keys=[name])

    def sismember(self, name: KeyT, value: str) -> int:
        """Return 1 if ``value`` is a member of set ``name``, else 0."""
        return self.execute_command("SISMEMBER", name, value, keys=[name])

    def smismember(self, name: KeyT, values: Any, *args: Any) -> List[int]:
        """Return 1/0 for each of ``values`` (and ``args``): member of set ``name`` or not."""
        members = list_or_args(values, args)
        return self.execute_command("SMISMEMBER", name, *members, keys=[name])

    def scard(self, name: KeyT) -> int:
        """Return the number of members of set ``name``."""
        return self.execute_command("SCARD", name, keys=[name])

    def spop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """Remove and return a random member (or a list of up to ``count`` members)."""
        args = [count] if count is not None else []
        return self.execute_command("SPOP", name, *args)

    def srandmember(self, name: KeyT, number: Optional[int] = None) -> Any:
        """Return a random member, or a list of ``number`` random members
        (negative ``number``: repeats allowed)."""
        args = [number] if number is not None else []
        return self.execute_command("SRANDMEMBER", name, *args)

    def sinter(self, keys: Any, *args: Any) -> Set[Any]:
        """Return the intersection of the sets ``keys`` (and ``args``)."""
        names = list_or_args(keys, args)
        return self.execute_command("SINTER", *names, keys=names)

    def sunion(self, keys: Any, *args: Any) -> Set[Any]:
        """Return the union of the sets ``keys`` (and ``args``)."""
        names = list_or_args(keys, args)
        return self.execute_command("SUNION", *names, keys=names)

    def sdiff(self, keys: Any, *args: Any) -> Set[Any]:
        """Return the members of the first set not in the others."""
        names = list_or_args(keys, args)
        return self.execute_command("SDIFF", *names, keys=names)

    def sinterstore(self, dest: KeyT, keys: Any, *args: Any) -> int:
        """Store the intersection of the sets in ``dest``; return its size."""
        return self.execute_command("SINTERSTORE", dest, *list_or_args(keys, args))

    def sunionstore(self, dest: KeyT, keys: Any, *args: Any) -> int:
        """Store the union of the sets in ``dest``; return its size."""
        return self.execute_command("SUNIONSTORE", dest, *list_or_args(keys, args))

    def sdiffstore(self, dest: str, keys: Any, *args: Any) -> int:
        """Store the difference of the sets in ``dest``; return its size."""
        return self.execute_command("SDIFFSTORE", dest, *list_or_args(keys, args))

    def smove(self, src: KeyT, dst: KeyT, value: str) -> bool:
        """Move ``value`` from set ``src`` to set ``dst``; True if it was moved."""
        return self.execute_command("SMOVE", src, dst, value)

    def sscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
    ) -> tuple:
        """One SSCAN step: ``(next_cursor, [members])``."""
        pieces: list = [name, cursor]
        if match is not None:
            pieces.extend([b"MATCH", match])
        if count is not None:
            pieces.extend([b"COUNT", count])
        return self.execute_command("SSCAN", *pieces)

    def sscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
    ) -> Iterator:
        """Iterate over the members of set ``name`` with SSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.sscan(name, cursor=cursor, match=match, count=count)
            yield from data
