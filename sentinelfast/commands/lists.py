"""List commands (LPUSH, LRANGE, BLPOP, LMOVE, ...), as in redis-py's ``ListCommands``."""

from __future__ import annotations

from typing import Any, List, Optional, Union

from ._base import CommandMixin
from ._helpers import list_or_args
from ._types import FieldT, KeysT, KeyT, Number


class ListCommands(CommandMixin):
    """Commands on list values."""

    __slots__ = ()

    def lpush(self, name: KeyT, *values: FieldT) -> int:
        """Push ``values`` onto the head of list ``name``; return the new length."""
        return self.execute_command("LPUSH", name, *values)

    def rpush(self, name: KeyT, *values: FieldT) -> int:
        """Push ``values`` onto the tail of list ``name``; return the new length."""
        return self.execute_command("RPUSH", name, *values)

    def lpushx(self, name: KeyT, *values: FieldT) -> int:
        """Push ``values`` onto the head of ``name`` only if the list exists."""
        return self.execute_command("LPUSHX", name, *values)

    def rpushx(self, name: KeyT, *values: str) -> int:
        """Push ``values`` onto the tail of ``name`` only if the list exists."""
        return self.execute_command("RPUSHX", name, *values)

    def lpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """Remove and return the first element (or a list of ``count`` elements)."""
        if count is not None:
            return self.execute_command("LPOP", name, count)
        return self.execute_command("LPOP", name)

    def rpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """Remove and return the last element (or a list of ``count`` elements)."""
        if count is not None:
            return self.execute_command("RPOP", name, count)
        return self.execute_command("RPOP", name)

    def lrange(self, name: KeyT, start: int, end: int) -> List[Union[bytes, str]]:
        """Return the elements of ``name`` from ``start`` to ``end`` (inclusive)."""
        return self.execute_command("LRANGE", name, start, end, keys=[name])

    def llen(self, name: KeyT) -> int:
        """Return the length of list ``name``."""
        return self.execute_command("LLEN", name, keys=[name])

    def lindex(self, name: KeyT, index: int) -> Union[bytes, str, None]:
        """Return the element at ``index`` of list ``name``, or None."""
        return self.execute_command("LINDEX", name, index, keys=[name])

    def lset(self, name: KeyT, index: int, value: str) -> bool:
        """Set the element at ``index`` of list ``name`` to ``value``."""
        return self.execute_command("LSET", name, index, value)

    def lrem(self, name: KeyT, count: int, value: str) -> int:
        """Remove ``count`` occurrences of ``value`` (0: all; <0: from the tail)."""
        return self.execute_command("LREM", name, count, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> bool:
        """Keep only the elements of ``name`` from ``start`` to ``end``."""
        return self.execute_command("LTRIM", name, start, end)

    def linsert(self, name: KeyT, where: str, refvalue: str, value: str) -> int:
        """Insert ``value`` "BEFORE" or "AFTER" ``refvalue``; return the new length (-1 if not found)."""
        return self.execute_command("LINSERT", name, where, refvalue, value)

    def blpop(self, keys: KeysT, timeout: Optional[Number] = 0) -> Any:
        """Pop from the head of the first non-empty list of ``keys``, waiting up to
        ``timeout`` seconds (0: forever); return ``(key, value)`` or None."""
        if timeout is None:
            timeout = 0
        args = list_or_args(keys, None)
        args.append(timeout)
        return self.execute_command("BLPOP", *args)

    def brpop(self, keys: KeysT, timeout: Optional[Number] = 0) -> Any:
        """Pop from the tail of the first non-empty list of ``keys``, waiting up to
        ``timeout`` seconds (0: forever); return ``(key, value)`` or None."""
        if timeout is None:
            timeout = 0
        args = list_or_args(keys, None)
        args.append(timeout)
        return self.execute_command("BRPOP", *args)

    def lmove(
        self, first_list: str, second_list: str, src: str = "LEFT", dest: str = "RIGHT"
    ) -> Union[bytes, str, None]:
        """Pop from the ``src`` end of ``first_list`` and push onto the ``dest`` end of ``second_list``."""
        return self.execute_command("LMOVE", first_list, second_list, src, dest)

    def blmove(
        self,
        first_list: str,
        second_list: str,
        timeout: int,
        src: str = "LEFT",
        dest: str = "RIGHT",
    ) -> Union[bytes, str, None]:
        """Blocking ``lmove``, waiting up to ``timeout`` seconds."""
        return self.execute_command("BLMOVE", first_list, second_list, src, dest, timeout)

    def rpoplpush(self, src: KeyT, dst: KeyT) -> Union[bytes, str, None]:
        """Pop the tail of ``src``, push it onto the head of ``dst`` and return it."""
        return self.execute_command("RPOPLPUSH", src, dst)

    def brpoplpush(
        self, src: KeyT, dst: KeyT, timeout: Optional[Number] = 0
    ) -> Union[bytes, str, None]:
        """Blocking ``rpoplpush``, waiting up to ``timeout`` seconds (0: forever)."""
        if timeout is None:
            timeout = 0
        return self.execute_command("BRPOPLPUSH", src, dst, timeout)
