"""The native core of sentinelfast: sockets, RESP, connections, pools, Sentinel
discovery and retries (``csrc/``).

Type stubs for the C extension ``sentinelfast._core``. Read-only attributes are
written as properties; attributes with a C setter are plain attributes.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar, final

from typing_extensions import Buffer, TypeAlias, disjoint_base

from sentinelfast.retry import Retry

# What the RESP encoder accepts as a command argument (``csrc/resp_writer.c``):
# bytes-like objects are sent as is, str is encoded with the connection's encoding,
# int and float are formatted. bool is rejected at runtime with DataError.
_Encodable: TypeAlias = bytes | bytearray | memoryview | str | int | float

# One (host, port) address.
_Address: TypeAlias = tuple[str, int]

_ClientT = TypeVar("_ClientT", bound=Client)
_T = TypeVar("_T")

HIREDIS_MAJOR: Final[int]
"""Major version of the hiredis library the extension was built against."""
HIREDIS_MINOR: Final[int]
"""Minor version of the hiredis library the extension was built against."""

HANDSHAKE_OK: Final[int]
"""``Handshake.check`` result: every step succeeded."""
HANDSHAKE_NOT_MASTER: Final[int]
"""``Handshake.check`` result: ROLE says the server is not a master (ask Sentinel again)."""
REPLY_VALUE: Final[int]
"""``classify_reply`` result: a value to return."""
REPLY_ERROR: Final[int]
"""``classify_reply`` result: an error reply to raise; the connection stays usable."""
REPLY_DEMOTED: Final[int]
"""``classify_reply`` result: READONLY on a Sentinel master connection: forget the address,
close the connection, raise ConnectionError (the retry policy reconnects)."""
SHAPE_LIST: Final[int]
"""``Reader.gets(shape=)``: an array reply as a list (the default)."""
SHAPE_SCORED_PAIRS: Final[int]
"""``Reader.gets(shape=)``: an array reply as redis-py's ``zset_score_pairs`` makes it."""

@disjoint_base
class Handshake:
    """The commands a new connection sends (AUTH, CLIENT SETNAME, SELECT, ROLE) and the
    judgement of their replies, with no I/O (``csrc/protocol.c``)."""

    def __init__(self, *, username: str | bytes | None = None,
                 password: str | bytes | None = None, client_name: str | bytes | None = None,
                 db: int = 0, check_role: bool = False, encoding: str = "utf-8",
                 encoding_errors: str = "strict") -> None: ...
    @property
    def commands(self) -> bytes:
        """The handshake's commands, RESP-encoded, to send in one write."""
        ...
    @property
    def reply_count(self) -> int:
        """How many replies :meth:`check` expects."""
        ...
    def check(self, replies: Sequence[Any], /) -> int:
        """``HANDSHAKE_OK`` or ``HANDSHAKE_NOT_MASTER``; raises the error redis-py raises
        for a failed step (an error reply is raised as is)."""
        ...

def classify_reply(reply: Any, follows_master: bool, /) -> int:
    """``REPLY_VALUE``, ``REPLY_ERROR`` or ``REPLY_DEMOTED`` for one command's reply."""
    ...

class _CredentialProvider(Protocol):
    """What ``Connection(credential_provider=...)`` needs (redis-py's ``CredentialProvider``)."""

    def get_credentials(self) -> Sequence[str | bytes]:
        """``(password,)`` or ``(username, password)``."""
        ...

@disjoint_base
class TLSContext:
    """TLS settings with redis-py's meaning (its ``ssl_*`` keywords without the
    prefix) and the OpenSSL context built from them, shared by the connections that
    use them. The files are read at the first connect (or :meth:`load`), where a
    missing or bad file raises ConnectionError as in redis-py."""

    def __init__(
        self,
        *,
        certfile: str | bytes | None = None,
        keyfile: str | bytes | None = None,
        password: str | bytes | None = None,
        cert_reqs: str | int | None = "required",
        ca_certs: str | bytes | None = None,
        ca_path: str | bytes | None = None,
        ca_data: str | bytes | None = None,
        check_hostname: bool = True,
        min_version: int | None = None,
        ciphers: str | None = None,
        include_verify_flags: Iterable[int] | None = None,
        exclude_verify_flags: Iterable[int] | None = None,
    ) -> None:
        """``cert_reqs``: "none", "optional", "required" or an ``ssl.CERT_*`` value
        (RedisError for another string). ``ca_data``: PEM text, or DER bytes.
        ``min_version``: an ``ssl.TLSVersion`` (default TLS 1.2). The verify flags are
        ``ssl.VerifyFlags`` values. ``password`` unlocks an encrypted key (a callable
        is not supported: TypeError)."""
        ...
    def load(self) -> None:
        """Build the OpenSSL context now; raises what the first connect would."""
        ...
    @property
    def check_hostname(self) -> bool:
        """Whether the certificate must name the host (False when cert_reqs is none)."""
        ...
    @property
    def cert_reqs(self) -> int:
        """``ssl.CERT_NONE`` (0), ``CERT_OPTIONAL`` (1) or ``CERT_REQUIRED`` (2)."""
        ...
    @property
    def loaded(self) -> bool:
        """Whether the OpenSSL context has been built."""
        ...

class _ConnectionPoolLike(Protocol):
    """What ``Client.connection_pool`` needs: a :class:`Pool` (fast path) or any object
    with these two methods."""

    def get_connection(self) -> Connection: ...
    def release(self, connection: Connection, /) -> None: ...

@disjoint_base
class Connection:
    """A connection to one Redis server (socket, handshake, RESP).

    Used by one thread at a time. Every failure other than an error reply closes
    the socket. All constructor arguments are keyword-only.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | bytes | None = None,
        password: str | bytes | None = None,
        client_name: str | bytes | None = None,
        socket_timeout: float | None = None,
        socket_connect_timeout: float | None = None,
        socket_keepalive: bool = False,
        socket_keepalive_options: dict[int, int] | None = None,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        decode_responses: bool = False,
        health_check_interval: float = 0,
        unix_socket_path: str | None = None,
        retry: Retry | None = None,
        credential_provider: _CredentialProvider | None = None,
        address_provider: Callable[[], Iterable[_Address]] | None = None,
        tls: TLSContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        """``port`` must be in 0..65535, ``db`` and the timeouts non-negative.
        ``address_provider``, if given, is called on every connect and its
        addresses tried in order (a ConnectionError moves on to the next).
        ``tls``: connect over TLS with these settings (None: plain);
        ``server_hostname``: the name sent in SNI and checked in the certificate
        (None: the host dialled)."""
        ...

    # -- read/write (C getters and setters)
    host: str
    """Server host name or address."""
    port: int
    """Server TCP port (0..65535)."""
    retry: Retry | None
    """The Retry policy of this connection (None: no retries)."""
    next_health_check: float
    """``time.monotonic()`` after which the next command first PINGs (with
    ``health_check_interval``); advanced by every reply read and every check."""
    _connect_callbacks: list[Callable[[], Callable[[Connection], object] | None]]
    """Weak references (called, each gives a callable or None) run with the connection
    after every connect; see ``sentinelfast.Connection.register_connect_callback``."""

    # -- read-only
    @property
    def db(self) -> int:
        """Database number."""
        ...
    @property
    def username(self) -> str | bytes | None:
        """ACL user name."""
        ...
    @property
    def password(self) -> str | bytes | None:
        """Password."""
        ...
    @property
    def client_name(self) -> str | bytes | None:
        """CLIENT SETNAME value."""
        ...
    @property
    def encoding(self) -> str:
        """Codec for str."""
        ...
    @property
    def encoding_errors(self) -> str:
        """Codec error handler."""
        ...
    @property
    def unix_socket_path(self) -> str | None:
        """Unix socket path, or None for TCP."""
        ...
    @property
    def socket_timeout(self) -> float | None:
        """Time one command (its send and its whole reply, or a pipeline's) may take,
        in seconds (None: no limit)."""
        ...
    @property
    def tls(self) -> TLSContext | None:
        """The TLS settings of this connection, or None (plain)."""
        ...
    @property
    def server_hostname(self) -> str | None:
        """Name sent in SNI and checked in the certificate (None: the host dialled)."""
        ...
    @property
    def socket_connect_timeout(self) -> float | None:
        """Connect timeout in seconds (None: none)."""
        ...
    @property
    def socket_keepalive(self) -> bool:
        """SO_KEEPALIVE on."""
        ...
    @property
    def health_check_interval(self) -> float:
        """Idle seconds before a PING check (0: never)."""
        ...
    @property
    def decode_responses(self) -> bool:
        """Replies decoded to str."""
        ...
    @property
    def is_connected(self) -> bool:
        """True while the socket is open."""
        ...
    @property
    def pid(self) -> int:
        """Process that opened the socket (the current one if never connected)."""
        ...
    @property
    def _fileno(self) -> int:
        """Socket descriptor, -1 when closed."""
        ...
    @property
    def _push_mode(self) -> bool:
        """True after SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or MONITOR was sent, until the
        connection closes: the server sends messages nobody asked for, so the pool
        closes it when it is released and never hands it out in that state."""
        ...
    @property
    def _connects(self) -> int:
        """Successful connects so far."""
        ...

    # -- methods
    def connect(self) -> None:
        """Connect and handshake unless already connected."""
        ...
    def disconnect(self, *args: object, **kwargs: object) -> None:
        """Close the socket (redis-py's arguments are accepted and ignored)."""
        ...
    def execute(
        self, *args: _Encodable, never_decode: bool = False, disable_decoding: bool = False
    ) -> Any:
        """Send one command and return its reply; an error reply is raised."""
        ...
    def execute_many(
        self,
        commands: Iterable[tuple[_Encodable, ...]],
        /,
        *,
        never_decode: bool = False,
        disable_decoding: bool = False,
    ) -> list[Any]:
        """Send commands in one write; return all replies, error replies as
        exception instances in place."""
        ...
    def send_command(self, *args: _Encodable, check_health: bool = True, **options: object) -> None:
        """Encode and send one command (connecting first if needed). ``check_health``:
        PING first when the health check is due (never in push mode nor while replies
        are owed). Other keywords (redis-py passes the command's options) are ignored."""
        ...
    def send_packed_command(
        self,
        command: Buffer | list[Buffer] | tuple[Buffer, ...],
        check_health: bool = True,
    ) -> None:
        """Send already encoded bytes (one buffer or a list/tuple of buffers); the
        commands in them are counted as owing replies."""
        ...
    def read_response(
        self,
        disable_decoding: bool = False,
        *,
        timeout: float | None = ...,
        disconnect_on_error: bool = True,
        push_request: bool = False,
    ) -> Any:
        """Read one reply; error replies are raised. ``timeout``: seconds (default
        ``socket_timeout``; None waits for ever, interruptibly). With
        ``disconnect_on_error=False`` a TimeoutError keeps the connection (a partial
        reply stays buffered); other failures always close it. ``push_request`` is
        accepted for redis-py (RESP2 has no push type)."""
        ...
    def can_read(self, timeout: float | None = 0) -> bool:
        """True if a reply (or part of one) is buffered or arrives within ``timeout``
        seconds (None: wait for it). Connects first if needed; ConnectionError (and
        the connection closed) if the server closed it."""
        ...
    def pack_command(self, *args: _Encodable) -> list[bytes]:
        """Encode one command to RESP; returns a list of bytes."""
        ...
    def pack_commands(self, commands: Iterable[Sequence[_Encodable]], /) -> list[bytes]:
        """Encode many commands to RESP in one buffer; returns a list of bytes."""
        ...
    def check_health(self) -> None:
        """PING if the connection was idle longer than health_check_interval (not in
        push mode nor while replies are owed), and advance ``next_health_check``."""
        ...
    def mark_for_reconnect(self) -> None:
        """Ask for a reconnect (redis-py: the client reconnects after the command)."""
        ...
    def should_reconnect(self) -> bool:
        """True if :meth:`mark_for_reconnect` was called since the last disconnect."""
        ...
    def reset_should_reconnect(self) -> None:
        """Forget a :meth:`mark_for_reconnect`."""
        ...

@disjoint_base
class Pool:
    """A thread-safe, fork-safe, LIFO pool of connections.

    ``connection_class(**connection_kwargs)`` makes new connections; it must return
    :class:`Connection` instances. Non-blocking pools raise MaxConnectionsError when
    ``max_connections`` are in use; blocking ones wait up to ``timeout`` seconds
    (None: forever) and then raise ConnectionError("No connection available.").
    """

    def __init__(
        self,
        connection_class: Callable[..., Connection],
        connection_kwargs: dict[str, Any],
        max_connections: int = 100,
        blocking: bool = False,
        timeout: float | None = None,
    ) -> None: ...

    # -- read-only
    @property
    def connection_class(self) -> Callable[..., Connection]:
        """Class (or factory) of the connections made."""
        ...
    @property
    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for new connections (the dict itself, mutable)."""
        ...
    @property
    def max_connections(self) -> int:
        """Most connections this pool makes."""
        ...
    @property
    def timeout(self) -> float | None:
        """How long a blocking pool waits (None: forever)."""
        ...
    @property
    def _created_connections(self) -> int:
        """Connections made and not forgotten."""
        ...
    @property
    def _epoch(self) -> int:
        """Bumped whenever the pool's connections must be replaced."""
        ...
    @property
    def _available_connections(self) -> list[Connection]:
        """Idle connections (a copy; the last is the most recently used)."""
        ...
    @property
    def _in_use_connections(self) -> set[Connection]:
        """Connections handed out (a copy)."""
        ...

    # -- methods
    def get_connection(self, *args: object, **kwargs: object) -> Connection:
        """Take a connection (most recently used first). redis-py's
        (command_name, *keys, **options) are accepted and ignored."""
        ...
    def release(self, connection: Connection, /) -> None:
        """Give a connection back (one in push mode, or made before the pool's
        connections were retired, is closed first)."""
        ...
    def make_connection(self) -> Connection:
        """Create a new connection counted against max_connections."""
        ...
    def disconnect(self, inuse_connections: bool = True) -> None:
        """Close the pool's idle connections, and shut down the in-use ones too
        unless ``inuse_connections`` is false."""
        ...
    def _retire_connections(self) -> None:
        """Close idle connections now and in-use ones when released."""
        ...
    def _attach_service(self, service: Service | None, /) -> None:
        """Follow a Service's failovers (Sentinel master pools)."""
        ...
    def reset(self) -> None:
        """Forget every connection (idle ones are closed)."""
        ...
    def owns_connection(self, connection: Connection, /) -> bool:
        """True if the connection belongs to this process (False for anything
        that is not a Connection)."""
        ...

@disjoint_base
class Client:
    """Base of sentinelfast.Redis: the native command path.

    Takes a connection from ``connection_pool`` (or uses ``connection``), runs the
    command under the connection's retry policy, gives the connection back and
    applies ``response_callbacks[command name]``. The C type has no ``__init__`` of
    its own (constructor arguments are for subclasses such as ``Redis``).
    """

    # -- read/write (C getters and setters)
    connection_pool: _ConnectionPoolLike
    """The client's connection pool (None until set)."""
    response_callbacks: dict[str, Callable[..., Any]]
    """Command name -> callable(reply, **options) applied to replies (any mapping
    is accepted at runtime)."""
    connection: Connection | None
    """The dedicated connection of a single_connection_client, else None."""

    # -- methods
    def execute_command(self, *args: _Encodable, **options: Any) -> Any:
        """Run one command and return its parsed reply.

        ``NEVER_DECODE`` (skip decode_responses), ``EMPTY_RESPONSE`` (returned
        instead of raising a ResponseError) and ``keys`` are consumed here; other
        options are passed to the response callback."""
        ...
    def _execute_many(self, commands: Iterable[tuple[_Encodable, ...]], /) -> list[Any]:
        """Send many commands in one write on one connection and return the raw
        replies (error replies as exception instances)."""
        ...

class PipelineCore(Client):
    """Base of sentinelfast.Pipeline: redis-py's Pipeline state in C fields and its hot
    path (buffering, ``execute`` of plain pipelines and MULTI/EXEC, ``reset``).

    Rare paths call methods the Python subclass provides: ``immediate_execute_command``
    (while WATCHing), ``_send`` (on the pipeline's own connection),
    ``_send_undecoded_apart`` (NEVER_DECODE under decode_responses), ``load_scripts``,
    ``annotate_exception``, ``_raise_first_error`` and ``_reset_watched`` (redis-py's
    reset, for a pipeline holding a connection)."""

    command_stack: list[tuple[tuple[Any, ...], dict[str, Any]]]
    """The buffered commands, ``(args, options)`` each (a list is required)."""
    scripts: Any
    """Scripts to load before ``execute()`` (a set, made when first read)."""
    watching: bool
    """True while WATCHing on the pipeline's own connection."""
    explicit_transaction: bool
    """True after ``multi()``."""
    transaction: Any
    """Wrap the commands in MULTI/EXEC (its truth value), as given."""
    shard_hint: Any
    """As given to the constructor (unused)."""

    def __init__(
        self,
        connection_pool: _ConnectionPoolLike,
        response_callbacks: Any,
        transaction: Any = True,
        shard_hint: Any = None,
    ) -> None: ...
    def execute_command(self, *args: _Encodable, **options: Any) -> Any:
        """Buffer a command and return the pipeline; while WATCHing before ``multi()``
        (or for WATCH itself) run it now through ``immediate_execute_command``."""
        ...
    def pipeline_execute_command(self, *args: _Encodable, **options: Any) -> Any:
        """Buffer a command for ``execute()`` and return the pipeline."""
        ...
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send the buffered commands in one write (in MULTI/EXEC when ``transaction``
        or after ``multi()``), return their replies through the response callbacks, in
        order, and reset the pipeline. With ``raise_on_error`` the first error reply
        is raised, annotated with its command."""
        ...
    def reset(self) -> None:
        """Empty the pipeline; UNWATCH and give back its own connection, if any."""
        ...
    def __enter__(self: _T) -> _T: ...
    def __exit__(self, *exc_info: object) -> None: ...

@final
class FastCommand:
    """``FastCommand(name, fallback, arity, *, keys=False)``: a method for a hot command.
    Called with exactly ``arity`` positional arguments it runs
    ``self.execute_command(name, *args)``; with ``keys=True`` (arity 1, MGET), called with
    one non-empty list or tuple it runs ``self.execute_command(name, *keys, keys=[*keys])``;
    called any other way it runs ``fallback`` (redis-py's method). A method descriptor:
    ``__doc__``, ``__name__``, ``__qualname__``, ``__module__`` are the fallback's, and
    ``__wrapped__`` is the fallback."""

    def __init__(self, name: str, fallback: Callable[..., Any], arity: int, *,
                 keys: bool = False) -> None: ...
    @property
    def command(self) -> str:
        """The command name sent on the fast path."""
        ...
    @property
    def __wrapped__(self) -> Callable[..., Any]: ...
    def __get__(self, obj: Any, type: type | None = None) -> Any: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

def discover_master(
    sentinels: list[_ClientT], service_name: _Encodable, min_other_sentinels: int, /
) -> tuple[int, _Address] | tuple[None, list[str]]:
    """Ask the Sentinel clients in order for the master of ``service_name``.

    Returns ``(index, (ip, port))`` for the first Sentinel whose view shows a
    healthy master with at least ``min_other_sentinels`` peers, or
    ``(None, errors)`` with one message per unreachable Sentinel."""
    ...

def discover_replicas(sentinels: list[_ClientT], service_name: _Encodable, /) -> list[_Address]:
    """The (ip, port) of the usable replicas (not down, not disconnected) from the
    first Sentinel that knows at least one; [] if none does."""
    ...

# -- the I/O-free protocol layer (csrc/resp_reader.c, csrc/resp_writer.c, csrc/resp_python.c)

# A reply as the reader returns it: bytes (str with decode_responses), int, None, a list
# of replies, or an error reply as an exception instance (ResponseError and subclasses).
_Reply: TypeAlias = Any

@final
class Reader:
    """An I/O-free RESP2 reply reader: ``feed()`` bytes as they arrive, ``gets()`` replies.

    Replies of any nesting depth; linear time however the input is split. Used by one
    thread at a time (a concurrent or re-entrant call raises RuntimeError)."""

    def __init__(
        self, *, decode_responses: bool = False, encoding: str = "utf-8",
        encoding_errors: str = "strict",
    ) -> None:
        """``encoding``/``encoding_errors`` decode bulk and status strings when
        ``decode_responses`` is true (checked here: LookupError if unknown)."""
        ...
    def feed(self, data: Buffer, offset: int = 0, length: int = -1) -> None:
        """Append ``data[offset:offset + length]`` (``length=-1``: to the end).
        ValueError for an out-of-range offset or length; InvalidResponse once broken."""
        ...
    def gets(self, *, shape: int = ...) -> _Reply | Literal[False]:
        """The next complete reply, or False when more input is needed.

        ``shape`` says how a reply that is an array and starts in this call is built:
        ``SHAPE_LIST`` (the default) a list; ``SHAPE_SCORED_PAIRS`` what redis-py's
        ``zset_score_pairs`` makes of it, ``[(member, float(score)), ...]`` (an odd last
        element dropped; float()'s error raised once the reply was read).

        Error replies are returned (not raised) as exception instances. InvalidResponse
        for a protocol error, MemoryError when a reply cannot be stored: after either the
        reader is ``broken`` and every call raises InvalidResponse. A decode error is
        raised after its whole reply was read; the reader stays usable."""
        ...
    def buffered(self) -> int:
        """Bytes fed that are not part of a reply returned yet (after a reply: nonzero
        means the server sent more than was asked for)."""
        ...
    def has_data(self) -> bool:
        """``buffered() > 0``."""
        ...
    @property
    def broken(self) -> bool:
        """True once a protocol error or an allocation failure made the reader unusable."""
        ...
    @property
    def decode_responses(self) -> bool: ...
    @property
    def encoding(self) -> str: ...
    @property
    def encoding_errors(self) -> str: ...

def encode_command(*args: _Encodable, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """One command in RESP, by redis-py's rules (the connection's encoder): a str name
    is split into words (a bytes/bytearray name when it holds a space); bytes-like
    arguments are sent as is, str encoded with ``encoding``/``errors``, int and float as
    ``repr()``. DataError for bool, None and other types; UnicodeEncodeError as str.encode."""
    ...

def fork_generation() -> int:
    """How many fork()s this process descends from since the module was loaded."""
    ...

def retry_count() -> int:
    """How many times the retry loop has run a command again, in this process."""
    ...

class Service:
    """Shared failover state of one Sentinel service (master address, epoch, hold)."""

    def __new__(cls, name: str, hold_timeout: float = 5.0) -> Service: ...
    def state(self) -> dict[str, Any]:
        """What the monitor knows of the service, and its counters: ``service``,
        ``master`` ((host, port) or None), ``master_ever_known`` (a Sentinel named a
        master once: until then clients fail at once instead of waiting for a
        failover), ``down_after_ms`` (0 = unknown), ``config_epoch``, ``epoch``,
        ``failover_in_progress``, ``sentinel_majority_lost``, ``switches``, ``failovers``,
        ``connections_dropped``,
        ``holds``, ``role_refusals``, ``tracked_connections``."""
        ...
    def set_master(self, host: str, port: int, /) -> None:
        """Seed the master address if none is known yet (and remember that a master
        was known)."""
        ...
    def generation(self) -> int:
        """A number that changes whenever the master's address changes (a switch, or
        a probe's switch undone); a failover beginning leaves it. Lock-free."""
        ...
    def in_failover(self) -> bool:
        """True while the monitor holds master commands for a failover in progress
        (until the switch, or the hold deadline). Lock-free."""
        ...
    def set_probe(
        self,
        enabled: bool = True,
        username: str | bytes | None = None,
        password: str | bytes | None = None,
        tls: TLSContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        """How the monitor's promotion probe reaches the data nodes: during a
        failover it asks ROLE of the replica being promoted every 2 ms and switches
        when it answers "master". ``enabled=False``: wait for ``+promoted-slave``."""
        ...

    def set_require_majority(self, on: bool, /) -> None:
        """While the monitor reaches fewer than a majority of the Sentinels for longer
        than down-after-milliseconds, master commands wait (the hold timeout), then
        fail with ConnectionError (``state()["sentinel_majority_lost"]``)."""
        ...

class Monitor:
    """The Sentinel monitor loop (run() is a background thread's target)."""

    def __init__(
        self,
        sentinels: Iterable[tuple[str, int]],
        socket_timeout: float = 0.5,
        recheck_interval: float = 5.0,
        on_event: Callable[[str, str, str], Any] | None = None,
        username: str | bytes | None = None,
        password: str | bytes | None = None,
        socket_connect_timeout: float | None = None,
        tls: TLSContext | None = None,
        server_hostname: str | None = None,
    ) -> None: ...
    def run(self) -> None:
        """Subscribe, re-check and deliver events until stop() is called."""
        ...
    def stop(self) -> None:
        """Ask run() to return."""
        ...
    def arm(self) -> None:
        """Clear a stop request; call before starting a thread on run()."""
        ...
    def recheck(self) -> None:
        """Re-check the masters now."""
        ...
    def service(self, name: str, hold_timeout: float = 5.0) -> Service:
        """The shared Service state for ``name``."""
        ...
    def set_credentials(self, username: str | bytes | None = None,
                        password: str | bytes | None = None) -> None:
        """AUTH for the Sentinel links opened from now on."""
        ...
    def stats(self) -> dict[str, Any]:
        """Sentinel links and counters."""
        ...
    def _lock_for_fork(self) -> None: ...
    def _unlock_after_fork(self) -> None: ...
    def _forget_after_fork(self) -> None: ...

class ConstantBackoff:
    """Always wait ``backoff`` seconds."""

    _backoff: float
    def __init__(self, backoff: float) -> None: ...
    def compute(self, failures: int) -> float: ...
    def reset(self) -> None: ...

class NoBackoff(ConstantBackoff):
    """Retry at once."""

    def __init__(self) -> None: ...

class _CappedBackoff:
    _cap: float
    _base: float
    def __init__(self, cap: float = 0.512, base: float = 0.008) -> None: ...
    def compute(self, failures: int) -> float: ...
    def reset(self) -> None: ...

class ExponentialBackoff(_CappedBackoff):
    """``min(cap, base * 2**failures)``."""

class FullJitterBackoff(_CappedBackoff):
    """Uniform between 0 and the exponential delay."""

class EqualJitterBackoff(_CappedBackoff):
    """Half the exponential delay plus a uniform draw over the other half."""

class DecorrelatedJitterBackoff(_CappedBackoff):
    """Between ``base`` and three times the previous delay, capped."""

    _previous_backoff: float

class ExponentialWithJitterBackoff(_CappedBackoff):
    """``min(cap, random() * base * 2**failures)``."""

def parse_set_result(response: Any, /, **options: Any) -> Any:
    """SET reply -> True / None, or the old value with ``get=True``."""
    ...

def pairs_to_dict(response: Any, /, **options: Any) -> dict[Any, Any]:
    """``[k1, v1, k2, v2, ...]`` -> ``{k1: v1, ...}`` (nil -> ``{}``)."""
    ...

def parse_zset_range(response: Any, /, **options: Any) -> Any:
    """ZRANGE family reply -> members, or ``(member, score)`` pairs with ``withscores=True``."""
    ...

def apply_callbacks(
    stack: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
    replies: Sequence[Any],
    callbacks: Any,
    response_error_class: type[BaseException] | None,
    /,
) -> list[Any]:
    """Parse pipeline replies with the response callbacks (error replies stay exceptions;
    with an ``EMPTY_RESPONSE`` option a ``response_error_class`` error becomes that value)."""
    ...
