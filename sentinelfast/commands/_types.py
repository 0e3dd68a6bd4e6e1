"""Type aliases used by the command mixins (mirroring ``redis.typing``)."""

from __future__ import annotations

import datetime
from typing import Iterable, Union

Number = Union[int, float]
EncodedT = Union[bytes, bytearray, memoryview]
DecodedT = Union[str, int, float]
EncodableT = Union[EncodedT, DecodedT]
StringLikeT = Union[bytes, str, memoryview]

KeyT = StringLikeT
"""A key in the Redis key space."""
PatternT = StringLikeT
"""A glob-style pattern matched against keys or fields."""
FieldT = EncodableT
"""A field inside a hash, or a member of a list/set/sorted set."""
KeysT = Union[KeyT, Iterable[KeyT]]
"""One key, or an iterable of keys."""
ScriptTextT = StringLikeT
ExpiryT = Union[int, datetime.timedelta]
"""A relative expiry: seconds/milliseconds as int, or a timedelta."""
AbsExpiryT = Union[int, datetime.datetime]
"""An absolute expiry: a unix timestamp as int, or a datetime."""
ZScoreBoundT = Union[float, str]
"""A sorted-set score bound; str allows the ``(`` / ``-inf`` / ``+inf`` forms."""
