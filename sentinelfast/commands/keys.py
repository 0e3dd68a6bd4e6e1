"""Generic key-space commands (DEL, EXPIRE, SCAN, ...), as in redis-py."""

from __future__ import annotations

import datetime
from typing import Any, Iterator, List, Optional, Union

from ._base import CommandMixin
from ._helpers import expire_condition_flags, milliseconds, seconds
from ._types import AbsExpiryT, ExpiryT, KeyT, PatternT


def _unix_seconds(when: AbsExpiryT) -> Any:
    return int(when.timestamp()) if isinstance(when, datetime.datetime) else when


def _unix_milliseconds(when: AbsExpiryT) -> Any:
    if isinstance(when, datetime.datetime):
        return int(when.timestamp() * 1000)
    return when


class KeyCommands(CommandMixin):
    """Commands acting on keys regardless of their type, and on whole databases."""

    __slots__ = ()

    def delete(self, *names: KeyT) -> int:
        """Delete the keys ``names``; return how many existed."""
        return self.execute_command("DEL", *names)

    def __delitem__(self, name: KeyT) -> None:
        self.delete(name)

    def unlink(self, *names: KeyT) -> int:
        """Unlink (delete asynchronously) the keys ``names``; return how many existed."""
        return self.execute_command("UNLINK", *names)

    def exists(self, *names: KeyT) -> int:
        """Return how many of ``names`` exist (a key given twice counts twice)."""
        return self.execute_command("EXISTS", *names, keys=names)

    __contains__ = exists

    def expire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Expire ``name`` after ``time`` seconds (int or timedelta).

        ``nx``: only if it has no expiry; ``xx``: only if it has one;
        ``gt``/``lt``: only if the new expiry is greater/less than the current.
        """
        return self.execute_command(
            "EXPIRE", name, seconds(time), *expire_condition_flags(nx, xx, gt, lt)
        )

    def pexpire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Expire ``name`` after ``time`` milliseconds (int or timedelta); options as expire."""
        return self.execute_command(
            "PEXPIRE", name, milliseconds(time), *expire_condition_flags(nx, xx, gt, lt)
        )

    def expireat(
        self,
        name: KeyT,
        when: AbsExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Expire ``name`` at unix time ``when`` (int seconds or datetime); options as expire."""
        return self.execute_command(
            "EXPIREAT", name, _unix_seconds(when), *expire_condition_flags(nx, xx, gt, lt)
        )

    def pexpireat(
        self,
        name: KeyT,
        when: AbsExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Expire ``name`` at unix time ``when`` (int milliseconds or datetime)."""
        return self.execute_command(
            "PEXPIREAT",
            name,
            _unix_milliseconds(when),
            *expire_condition_flags(nx, xx, gt, lt),
        )

    def ttl(self, name: KeyT) -> int:
        """Seconds until ``name`` expires (-1: no expiry, -2: no such key)."""
        return self.execute_command("TTL", name)

    def pttl(self, name: KeyT) -> int:
        """Milliseconds until ``name`` expires (-1: no expiry, -2: no such key)."""
        return self.execute_command("PTTL", name)

    def persist(self, name: KeyT) -> bool:
        """Remove the expiry of ``name``; True if there was one."""
        return self.execute_command("PERSIST", name)

    def type(self, name: KeyT) -> Union[bytes, str]:
        """Return the type of the value at ``name`` (e.g. b"string", b"none")."""
        return self.execute_command("TYPE", name, keys=[name])

    def keys(self, pattern: PatternT = "*", **kwargs: Any) -> List[Union[bytes, str]]:
        """Return the keys matching the glob ``pattern``."""
        return self.execute_command("KEYS", pattern, **kwargs)

    def scan(
        self,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> tuple:
        """One SCAN step: return ``(next_cursor, [keys])``; cursor 0 means done.

        ``match`` filters by glob pattern, ``count`` hints the batch size and
        ``_type`` restricts to one value type.
        """
        pieces: list = [cursor]
        if match is not None:
            pieces.extend([b"MATCH", match])
        if count is not None:
            pieces.extend([b"COUNT", count])
        if _type is not None:
            pieces.extend([b"TYPE", _type])
        return self.execute_command("SCAN", *pieces, **kwargs)

    def scan_iter(
        self,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator:
        """Iterate over every key (as ``scan``'s filters allow), driving the cursor."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.scan(
                cursor=cursor, match=match, count=count, _type=_type, **kwargs
            )
            yield from data

    def rename(self, src: KeyT, dst: KeyT) -> bool:
        """Rename key ``src`` to ``dst``."""
        return self.execute_command("RENAME", src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> bool:
        """Rename ``src`` to ``dst`` only if ``dst`` doesn't exist; True if renamed."""
        return self.execute_command("RENAMENX", src, dst)

    def touch(self, *args: KeyT) -> int:
        """Update the last access time of the keys; return how many exist."""
        return self.execute_command("TOUCH", *args)

    def copy(
        self,
        source: str,
        destination: str,
        destination_db: Optional[str] = None,
        replace: bool = False,
    ) -> bool:
        """Copy ``source`` to ``destination`` (in ``destination_db`` if given).

        With ``replace`` an existing destination is overwritten. True if copied.
        """
        params: list = [source, destination]
        if destination_db is not None:
            params.extend(["DB", destination_db])
        if replace:
            params.append("REPLACE")
        return self.execute_command("COPY", *params)

    def randomkey(self, **kwargs: Any) -> Union[bytes, str, None]:
        """Return a random key name, or None when the database is empty."""
        return self.execute_command("RANDOMKEY", **kwargs)

    def dbsize(self, **kwargs: Any) -> int:
        """Return the number of keys in the current database."""
        return self.execute_command("DBSIZE", **kwargs)

    def flushdb(self, asynchronous: bool = False, **kwargs: Any) -> bool:
        """Delete every key of the current database (in the background if ``asynchronous``)."""
        args = [b"ASYNC"] if asynchronous else []
        return self.execute_command("FLUSHDB", *args, **kwargs)

    def flushall(self, asynchronous: bool = False, **kwargs: Any) -> bool:
        """Delete every key of every database (in the background if ``asynchronous``)."""
        args = [b"ASYNC"] if asynchronous else []
        return self.execute_command("FLUSHALL", *args, **kwargs)
