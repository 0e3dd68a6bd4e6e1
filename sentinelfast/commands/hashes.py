"""Hash commands (HSET, HGETALL, HSCAN, ...), as in redis-py's ``HashCommands``."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from ..exceptions import DataError
from ._base import CommandMixin
from ._helpers import list_or_args, mapping_to_flat_list, warn_deprecated
from ._types import EncodableT, FieldT, KeyT, PatternT


class HashCommands(CommandMixin):
    """Commands on hash values."""

    __slots__ = ()

    def hset(
        self,
        name: KeyT,
        key: Optional[FieldT] = None,
        value: Optional[EncodableT] = None,
        mapping: Optional[Mapping[FieldT, EncodableT]] = None,
        items: Optional[Sequence[EncodableT]] = None,
    ) -> int:
        """Set fields of hash ``name``; return how many fields were added.

        Fields come from ``items`` (a flat ``[field, value, ...]`` list), then
        ``key``/``value``, then ``mapping``.
        """
        if key is None and not mapping and not items:
            raise DataError("'hset' with no key value pairs")
        pieces: list = []
        if items:
            pieces.extend(items)
        if key is not None:
            pieces.extend((key, value))
        if mapping:
            pieces.extend(mapping_to_flat_list(mapping))
        return self.execute_command("HSET", name, *pieces)

    def hsetnx(self, name: KeyT, key: FieldT, value: EncodableT) -> int:
        """Set field ``key`` of hash ``name`` only if it doesn't exist; 1 if set, else 0."""
        return self.execute_command("HSETNX", name, key, value)

    def hmset(self, name: KeyT, mapping: Mapping[FieldT, EncodableT]) -> bool:
        """Set every field of ``mapping`` in hash ``name`` (deprecated: use hset)."""
        warn_deprecated("hmset", "Use 'hset' instead.", "4.0.0")
        if not mapping:
            raise DataError("'hmset' with 'mapping' of length 0")
        return self.execute_command("HMSET", name, *mapping_to_flat_list(mapping))

    def hget(self, name: KeyT, key: FieldT) -> Union[bytes, str, None]:
        """Return field ``key`` of hash ``name``, or None."""
        return self.execute_command("HGET", name, key, keys=[name])

    def hgetall(self, name: KeyT) -> Dict[Any, Any]:
        """Return hash ``name`` as a dict (empty when the key doesn't exist)."""
        return self.execute_command("HGETALL", name, keys=[name])

    def hmget(
        self, name: KeyT, keys: Union[FieldT, Iterable[FieldT]], *args: FieldT
    ) -> List[Union[bytes, str, None]]:
        """Return the values of the fields ``keys`` (and ``args``) in order."""
        fields = list_or_args(keys, args)
        return self.execute_command("HMGET", name, *fields, keys=[name])

    def hdel(self, name: KeyT, *keys: FieldT) -> int:
        """Delete fields ``keys`` from hash ``name``; return how many existed."""
        return self.execute_command("HDEL", name, *keys)

    def hincrby(self, name: KeyT, key: FieldT, amount: int = 1) -> int:
        """Increment integer field ``key`` of hash ``name`` by ``amount``."""
        return self.execute_command("HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: FieldT, amount: float = 1.0) -> float:
        """Increment field ``key`` of hash ``name`` by the float ``amount``."""
        return self.execute_command("HINCRBYFLOAT", name, key, amount)

    def hkeys(self, name: KeyT) -> List[Union[bytes, str]]:
        """Return the field names of hash ``name``."""
        return self.execute_command("HKEYS", name, keys=[name])

    def hvals(self, name: KeyT) -> List[Union[bytes, str]]:
        """Return the values of hash ``name``."""
        return self.execute_command("HVALS", name, keys=[name])

    def hlen(self, name: KeyT) -> int:
        """Return the number of fields in hash ``name``."""
        return self.execute_command("HLEN", name, keys=[name])

    def hexists(self, name: KeyT, key: FieldT) -> bool:
        """Return whether field ``key`` exists in hash ``name``."""
        return self.execute_command("HEXISTS", name, key, keys=[name])

    def hstrlen(self, name: KeyT, key: FieldT) -> int:
        """Return the length in bytes of field ``key`` of hash ``name``."""
        return self.execute_command("HSTRLEN", name, key, keys=[name])

    def hscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> tuple:
        """One HSCAN step: ``(next_cursor, {field: value})``.

        With ``no_values`` (any value but None sends NOVALUES) the second item
        is a list of field names.
        """
        pieces: list = [name, cursor]
        if match is not None:
            pieces.extend([b"MATCH", match])
        if count is not None:
            pieces.extend([b"COUNT", count])
        if no_values is not None:
            pieces.append(b"NOVALUES")
        return self.execute_command("HSCAN", *pieces, no_values=no_values)

    def hscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> Iterator:
        """Iterate over ``(field, value)`` pairs of hash ``name`` (field names with ``no_values``)."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.hscan(
                name, cursor=cursor, match=match, count=count, no_values=no_values
            )
            if no_values:
                yield from data
            else:
                yield from data.items()
