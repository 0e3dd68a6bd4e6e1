/* The transport: one byte stream to one server, over TCP, a unix socket, or TLS
 * (OpenSSL) over TCP. Every connection goes through it: data-node connections
 * (connection.c) and the monitor's Sentinel links (sentinel_link.c).
 *
 * This layer never touches Python objects and never needs the GIL: callers that
 * hold the GIL release it around a call (Py_BEGIN_ALLOW_THREADS) and pass an
 * interrupt hook, which the transport calls on EINTR (it takes the GIL back, runs
 * the signal handlers, and says whether to give up). The monitor thread passes no
 * hook. Errors come back as an sf_io_error, which the caller turns into the
 * exception redis-py raises (sf_io_raise, or the monitor's log line).
 *
 * Deadlines are absolute sf_monotonic() times; SF_NO_DEADLINE waits forever. One
 * deadline bounds a whole operation (a command's send and every read of its reply),
 * so a server that drips one byte at a time still times out.
 *
 * How a blocking connection keeps a GET at two syscalls: a TCP socket stays in
 * blocking mode with SO_RCVTIMEO/SO_SNDTIMEO set to its socket_timeout, so the first
 * send and the first recv of a command wait in the kernel, bounded by the same
 * deadline (it starts with the command). Every later wait of the same operation
 * (a reply in several segments, EINTR) polls for the time that remains and then
 * reads with MSG_DONTWAIT. A TLS socket and a monitor link are non-blocking: they
 * poll for what OpenSSL wants (a read may need to write), with SSL_pending counted
 * as readable. */
#ifndef SF_TRANSPORT_H
#define SF_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define SF_NO_DEADLINE (-1.0)

/* What went wrong; `code` says which redis-py exception it becomes. */
typedef enum {
    SF_IO_OK = 0,
    SF_IO_CONNECT,       /* could not connect: ConnectionError "Error N connecting to h:p. ..." */
    SF_IO_TIMEOUT,       /* the deadline passed: TimeoutError */
    SF_IO_CLOSED,        /* EOF: ConnectionError "Connection closed by server." */
    SF_IO_SOCKET,        /* a socket error on send/recv: ConnectionError */
    SF_IO_TLS,           /* TLS handshake/verification/record error: ConnectionError */
    SF_IO_INTERRUPTED,   /* the interrupt hook asked to stop (a Python exception is set) */
    SF_IO_NOMEM,         /* MemoryError */
} sf_io_code;

typedef struct {
    sf_io_code code;
    int err;             /* errno / getaddrinfo code / SSL error, 0 if none */
    char msg[320];       /* the message, without the class name */
} sf_io_error;

/* Called on EINTR; returns 0 to go on (the remaining time is recomputed), -1 to
 * give up with SF_IO_INTERRUPTED. `interrupted`: the caller found, just before the
 * call, that a signal handler raised (a signal delivered while no wait of ours could
 * be interrupted, e.g. while the thread waited for the GIL): connect, send, recv and
 * wait_readable then return SF_IO_INTERRUPTED at once instead of starting a wait
 * that the signal, already delivered, would not end. */
typedef struct {
    int (*on_eintr)(void *arg);
    void *arg;
    int interrupted;
} sf_interrupt_hook;

/* TLS settings of one endpoint. `ctx` is owned by the caller (a TLSContext object,
 * see tls_context.c) and must outlive the connect; the transport takes its own
 * reference (SSL_new). */
typedef struct {
    SSL_CTX *ctx;
    const char *server_hostname;   /* SNI and the name verified; NULL: the host dialled */
    int check_hostname;            /* verify the certificate names `server_hostname` */
} sf_tls_params;

typedef struct {
    const char *host;              /* TCP host name or address, or NULL for unix */
    int port;
    const char *unix_path;         /* unix socket path, or NULL for TCP */
    double connect_timeout;        /* per address tried; < 0: none */
    double io_timeout;             /* socket_timeout: SO_RCVTIMEO/SO_SNDTIMEO; < 0: none */
    int keepalive;                 /* SO_KEEPALIVE with the options below */
    const int *keepalive_opts;     /* pairs (TCP_KEEPIDLE, 30, ...), ends with -1; NULL: defaults */
    const sf_tls_params *tls;      /* NULL: plain */
    int nonblocking;               /* keep O_NONBLOCK (monitor links); TLS implies it */
} sf_endpoint;

typedef struct {
    int fd;                        /* -1 when closed */
    SSL *ssl;                      /* NULL unless TLS */
    int nonblocking;
    double io_timeout;
    unsigned long fork_generation; /* sf_fork_generation when connected */
} sf_transport;

#define SF_TRANSPORT_INIT {-1, NULL, 0, -1.0, 0}

/* Connect: every address getaddrinfo gives, each within connect_timeout, then the
 * TLS handshake (and certificate/hostname verification) within connect_timeout.
 * 0, or -1 with *e filled. */
int sf_transport_connect(sf_transport *t, const sf_endpoint *ep, const sf_interrupt_hook *hook,
                         sf_io_error *e);

/* Send all of buf before `deadline`. 0, or -1 with *e. */
int sf_transport_send(sf_transport *t, const char *buf, size_t len, double deadline,
                      const sf_interrupt_hook *hook, sf_io_error *e);

/* Receive some bytes (at most cap) before `deadline`. When the time left is the
 * socket's whole io_timeout (the operation has just begun), a blocking socket waits
 * in the kernel; otherwise it polls for what is left. Returns the count (> 0), or -1
 * with *e (EOF is SF_IO_CLOSED). */
ssize_t sf_transport_recv(sf_transport *t, char *buf, size_t cap, double deadline,
                          const sf_interrupt_hook *hook, sf_io_error *e);

/* Non-blocking read/write for event loops (the monitor). Return the count (> 0),
 * 0 if it would block (*want is POLLIN or POLLOUT: what to poll for), -1 with *e. */
ssize_t sf_transport_read_nb(sf_transport *t, char *buf, size_t cap, int *want, sf_io_error *e);
ssize_t sf_transport_write_nb(sf_transport *t, const char *buf, size_t len, int *want,
                              sf_io_error *e);

/* Wait until the stream is readable (TLS: bytes buffered by OpenSSL count).
 * 1 readable (or closed: the read will tell), 0 deadline passed, -1 with *e. */
int sf_transport_wait_readable(sf_transport *t, double deadline, const sf_interrupt_hook *hook,
                               sf_io_error *e);

/* Bytes already received and buffered above the socket (TLS records decrypted but
 * not read). No syscall. */
size_t sf_transport_pending(const sf_transport *t);

/* Is anything waiting on the socket (poll with a zero timeout)? Used only off the hot
 * path. 1 yes (data or EOF), 0 no. */
int sf_transport_has_input(const sf_transport *t);

/* Wake any thread blocked on this transport and make later I/O fail: shutdown(2).
 * Safe to call from another thread while the owner is inside send/recv. */
void sf_transport_shutdown(sf_transport *t);

/* Close. A TLS session is closed with close_notify when `graceful`; never when the
 * transport was made in another process (after fork: the parent still uses it, so
 * the child frees its copy without sending anything). */
void sf_transport_close(sf_transport *t, int graceful);

static inline int
sf_transport_is_open(const sf_transport *t)
{
    return t->fd >= 0;
}

#endif
