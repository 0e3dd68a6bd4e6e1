"""Sorted-set commands (ZADD, ZRANGE, ZSCAN, ...), as in redis-py's ``SortedSetCommands``."""

from __future__ import annotations

from typing import cast, Any, Callable, Iterator, List, Mapping, Optional, Union

from ..exceptions import DataError
from ._base import CommandMixin
from ._types import EncodableT, FieldT, KeyT, PatternT, ZScoreBoundT

ScoreCast = Union[type, Callable[[Any], Any]]


def _check_limit_pair(start: Optional[int], num: Optional[int]) -> None:
    if (start is None) != (num is None):
        raise DataError("``start`` and ``num`` must both be specified")


class SortedSetCommands(CommandMixin):
    """Commands on sorted-set values.

    Methods returning scores accept ``score_cast_func`` (default ``float``),
    applied to each score as the server sent it (bytes, or str with
    decode_responses).
    """

    __slots__ = ()

    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[Any, EncodableT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Union[int, float, None]:
        """Add ``{member: score}`` pairs to ``name``; return how many were added.

        ``nx``: only add new members; ``xx``: only update existing ones;
        ``gt``/``lt``: only update when the new score is greater/less;
        ``ch``: count changed members too; ``incr``: increment the single
        member's score and return the new score (None if not done).
        """
        if not mapping:
            raise DataError("ZADD requires at least one element/score pair")
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise DataError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise DataError(
                "ZADD option 'incr' only works when passing a single element/score pair"
            )
        if nx and (gt or lt):
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        pieces: list = [
            token
            for token, wanted in (
                (b"NX", nx),
                (b"XX", xx),
                (b"CH", ch),
                (b"INCR", incr),
                (b"GT", gt),
                (b"LT", lt),
            )
            if wanted
        ]
        options = {"as_score": True} if incr else {}
        for member, score in mapping.items():
            pieces.append(score)
            pieces.append(member)
        return self.execute_command("ZADD", name, *pieces, **options)

    def zrem(self, name: KeyT, *values: FieldT) -> int:
        """Remove ``values`` from sorted set ``name``; return how many existed."""
        return self.execute_command("ZREM", name, *values)

    def zscore(self, name: KeyT, value: EncodableT) -> Optional[float]:
        """Return the score of ``value`` in ``name``, or None."""
        return self.execute_command("ZSCORE", name, value, keys=[name])

    def zmscore(self, key: KeyT, members: List[str]) -> List[Optional[float]]:
        """Return the scores of ``members`` (None for missing ones)."""
        if not members:
            raise DataError("ZMSCORE members must be a non-empty list")
        pieces = [key] + members
        return self.execute_command("ZMSCORE", *pieces, keys=[key])

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> Optional[float]:
        """Increment the score of ``value`` in ``name`` by ``amount``; return the new score."""
        return self.execute_command("ZINCRBY", name, amount, value)

    def zcard(self, name: KeyT) -> int:
        """Return the number of members of sorted set ``name``."""
        return self.execute_command("ZCARD", name, keys=[name])

    def zcount(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        """Return how many members have a score between ``min`` and ``max``."""
        return self.execute_command("ZCOUNT", name, min, max, keys=[name])

    def zrank(
        self,
        name: KeyT,
        value: EncodableT,
        withscore: bool = False,
        score_cast_func: ScoreCast = float,
    ) -> Any:
        """Return the 0-based ascending rank of ``value`` (or ``[rank, score]``), or None."""
        pieces: list = ["ZRANK", name, value]
        if withscore:
            pieces.append("WITHSCORE")
        return self.execute_command(
            *pieces, withscore=withscore, score_cast_func=score_cast_func
        )

    def zrevrank(
        self,
        name: KeyT,
        value: EncodableT,
        withscore: bool = False,
        score_cast_func: ScoreCast = float,
    ) -> Any:
        """Return the 0-based descending rank of ``value`` (or ``[rank, score]``), or None."""
        pieces: list = ["ZREVRANK", name, value]
        if withscore:
            pieces.append("WITHSCORE")
        return self.execute_command(
            *pieces, withscore=withscore, score_cast_func=score_cast_func
        )

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> int:
        """Remove the members ranked ``min`` to ``max``; return how many."""
        return self.execute_command("ZREMRANGEBYRANK", name, min, max)

    def zremrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        """Remove the members scored ``min`` to ``max``; return how many."""
        return self.execute_command("ZREMRANGEBYSCORE", name, min, max)

    def zpopmin(self, name: KeyT, count: Optional[int] = None) -> List[tuple]:
        """Remove and return up to ``count`` lowest-scored ``(member, score)`` pairs."""
        args = [count] if count is not None else []
        return self.execute_command("ZPOPMIN", name, *args, withscores=True)

    def zpopmax(self, name: KeyT, count: Optional[int] = None) -> List[tuple]:
        """Remove and return up to ``count`` highest-scored ``(member, score)`` pairs."""
        args = [count] if count is not None else []
        return self.execute_command("ZPOPMAX", name, *args, withscores=True)

    def _zrange(
        self,
        command: str,
        dest: Optional[KeyT],
        name: KeyT,
        start: EncodableT,
        end: EncodableT,
        desc: bool = False,
        byscore: bool = False,
        bylex: bool = False,
        withscores: bool = False,
        score_cast_func: Optional[ScoreCast] = float,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> Any:
        """Build and send ZRANGE / ZRANGESTORE with the Redis 6.2 argument form."""
        if byscore and bylex:
            raise DataError("``byscore`` and ``bylex`` can not be specified together.")
        if (offset is None) != (num is None):
            raise DataError("``offset`` and ``num`` must both be specified.")
        if bylex and withscores:
            raise DataError(
                "``withscores`` not supported in combination with ``bylex``."
            )
        pieces: list = [command]
        if dest:
            pieces.append(dest)
        pieces.extend([name, start, end])
        if byscore:
            pieces.append("BYSCORE")
        if bylex:
            pieces.append("BYLEX")
        if desc:
            pieces.append("REV")
        if offset is not None and num is not None:
            pieces.extend(["LIMIT", offset, num])
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(
            *pieces,
            withscores=withscores,
            score_cast_func=score_cast_func,
            keys=[name],
        )

    def zrange(
        self,
        name: KeyT,
        start: EncodableT,
        end: EncodableT,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        byscore: bool = False,
        bylex: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> list:
        """Return members of ``name`` between ``start`` and ``end``.

        By rank unless ``byscore`` (score bounds) or ``bylex`` (lexical bounds
        like ``"[a"``); ``desc`` reverses the order; ``offset``/``num`` limit
        the result; ``withscores`` returns ``(member, score)`` tuples.
        """
        if desc and not byscore and not bylex and offset is None and num is None:
            # redis-py keeps using ZREVRANGE here for old servers
            return self.zrevrange(name, cast(int, start), cast(int, end), withscores, score_cast_func)
        return self._zrange(
            "ZRANGE",
            None,
            name,
            start,
            end,
            desc,
            byscore,
            bylex,
            withscores,
            score_cast_func,
            offset,
            num,
        )

    def zrangestore(
        self,
        dest: KeyT,
        name: KeyT,
        start: EncodableT,
        end: EncodableT,
        byscore: bool = False,
        bylex: bool = False,
        desc: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> int:
        """Store the ``zrange`` result in ``dest``; return its size."""
        return self._zrange(
            "ZRANGESTORE",
            dest,
            name,
            start,
            end,
            desc,
            byscore,
            bylex,
            False,
            None,
            offset,
            num,
        )

    def zrevrange(
        self,
        name: KeyT,
        start: int,
        end: int,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
    ) -> list:
        """Return members of ``name`` ranked ``start`` to ``end``, highest score first."""
        pieces: list = ["ZREVRANGE", name, start, end]
        if withscores:
            pieces.append(b"WITHSCORES")
        return self.execute_command(
            *pieces, withscores=withscores, score_cast_func=score_cast_func, keys=name
        )

    def zrangebyscore(
        self,
        name: KeyT,
        min: ZScoreBoundT,
        max: ZScoreBoundT,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
    ) -> list:
        """Return members scored ``min`` to ``max`` (``start``/``num`` limit the result)."""
        _check_limit_pair(start, num)
        pieces: list = ["ZRANGEBYSCORE", name, min, max]
        if start is not None and num is not None:
            pieces.extend(["LIMIT", start, num])
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(
            *pieces, withscores=withscores, score_cast_func=score_cast_func, keys=[name]
        )

    def zrevrangebyscore(
        self,
        name: KeyT,
        max: ZScoreBoundT,
        min: ZScoreBoundT,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
    ) -> list:
        """Return members scored ``max`` down to ``min``, highest first."""
        _check_limit_pair(start, num)
        pieces: list = ["ZREVRANGEBYSCORE", name, max, min]
        if start is not None and num is not None:
            pieces.extend(["LIMIT", start, num])
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(
            *pieces, withscores=withscores, score_cast_func=score_cast_func, keys=[name]
        )

    def zrangebylex(
        self,
        name: KeyT,
        min: EncodableT,
        max: EncodableT,
        start: Optional[int] = None,
        num: Optional[int] = None,
    ) -> list:
        """Return members between the lexical bounds ``min`` and ``max`` (e.g. ``"[a"``, ``"-"``)."""
        _check_limit_pair(start, num)
        pieces: list = ["ZRANGEBYLEX", name, min, max]
        if start is not None and num is not None:
            pieces.extend([b"LIMIT", start, num])
        return self.execute_command(*pieces, keys=[name])

    def zrevrangebylex(
        self,
        name: KeyT,
        max: EncodableT,
        min: EncodableT,
        start: Optional[int] = None,
        num: Optional[int] = None,
    ) -> list:
        """Return members between the lexical bounds ``max`` and ``min``, in reverse order."""
        _check_limit_pair(start, num)
        pieces: list = ["ZREVRANGEBYLEX", name, max, min]
        if start is not None and num is not None:
            pieces.extend(["LIMIT", start, num])
        return self.execute_command(*pieces, keys=[name])

    def zscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        score_cast_func: ScoreCast = float,
    ) -> tuple:
        """One ZSCAN step: ``(next_cursor, [(member, score), ...])``."""
        pieces: list = [name, cursor]
        if match is not None:
            pieces.extend([b"MATCH", match])
        if count is not None:
            pieces.extend([b"COUNT", count])
        return self.execute_command("ZSCAN", *pieces, score_cast_func=score_cast_func)

    def zscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        score_cast_func: ScoreCast = float,
    ) -> Iterator:
        """Iterate over ``(member, score)`` pairs of sorted set ``name`` with ZSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.zscan(
                name,
                cursor=cursor,
                match=match,
                count=count,
                score_cast_func=score_cast_func,
            )
            yield from data
