"""Which client implementation the tests exercise.

``SF_TEST_IMPL=sentinelfast`` (the default) tests sentinelfast. ``SF_TEST_IMPL=redis`` runs the
very same tests against redis-py (``redis``, ``redis.sentinel``, ``redis.exceptions``...): it proves
the tests and the fixtures themselves are right, independently of the C core. For the encoding
tests redis-py must be installed WITHOUT the ``hiredis`` extra: with hiredis, redis-py packs
commands with ``hiredis.pack_command`` (always UTF-8, other DataError messages), while the contract
is redis-py's Python encoder (``encoding``/``encoding_errors``, "Invalid input of type: ...").

Tests import from here only: ``from sfimpl import sf, sf_sentinel, sf_exceptions, no_retry``.
"""

import os
import sys

#: The interpreter flag that keeps a child Python's current directory (the repository root,
#: whose sentinelfast/ has no built extension) off sys.path: -P from Python 3.11; 3.10 has
#: only -I, which also ignores PYTHON* variables (the venv's interpreter still finds the
#: installed package).
NO_CWD_FLAG = "-P" if sys.version_info >= (3, 11) else "-I"

IMPL = os.environ.get("SF_TEST_IMPL", "sentinelfast").strip().lower()

if IMPL in ("redis", "redis-py", "redispy"):
    IMPL = "redis"
    import redis as sf
    import redis.exceptions as sf_exceptions
    import redis.sentinel as sf_sentinel
elif IMPL == "sentinelfast":
    import sentinelfast as sf
    import sentinelfast.exceptions as sf_exceptions
    import sentinelfast.sentinel as sf_sentinel
else:  # pragma: no cover
    raise RuntimeError(f"SF_TEST_IMPL must be 'sentinelfast' or 'redis', not {IMPL!r}")


def no_retry():
    """``Retry(NoBackoff(), 0)`` of the implementation under test: one attempt, no reconnect+resend."""
    if IMPL == "redis":
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    else:
        from sentinelfast.backoff import NoBackoff
        from sentinelfast.retry import Retry
    return Retry(NoBackoff(), 0)


__all__ = ["IMPL", "sf", "sf_exceptions", "sf_sentinel", "no_retry"]
