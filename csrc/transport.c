/* The transport: connect, send, receive over TCP, unix sockets and TLS (see transport.h).
 *
 * No Python here: the only way back into the interpreter is the caller's interrupt
 * hook, called on EINTR. Every wait is bounded by the operation's absolute deadline. */
#include "transport.h"

#include "sentinelfast.h"   /* sf_monotonic, sf_fork_generation (no Python calls) */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* A first wait whose time left is within this of the whole io_timeout waits in the
 * kernel (SO_RCVTIMEO/SO_SNDTIMEO), overshooting the deadline by at most this much. */
#define KERNEL_WAIT_SLACK 0.005

/* ---------------------------------------------------------------- errors */

static void
set_error(sf_io_error *e, sf_io_code code, int err, const char *fmt, ...)
{
    e->code = code;
    e->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

static void
set_recv_error(sf_io_error *e, int err)
{
    set_error(e, SF_IO_SOCKET, err, "Error while reading from socket: (%d, '%s')", err,
              strerror(err));
}

static void
set_send_error(sf_io_error *e, int err)
{
    set_error(e, SF_IO_SOCKET, err, "Error %d while writing to socket. %s.", err, strerror(err));
}

/* The reason OpenSSL gives for the last failure (its error queue), or `fallback`. */
static void
tls_reason(char *out, size_t cap, const char *fallback)
{
    unsigned long code = ERR_peek_last_error();
    if (code == 0) {
        snprintf(out, cap, "%s", fallback);
        return;
    }
    const char *reason = ERR_reason_error_string(code);
    if (reason != NULL)
        snprintf(out, cap, "%s", reason);
    else
        ERR_error_string_n(code, out, cap);
}

/* ---------------------------------------------------------------- waiting */

/* Milliseconds to poll for before `deadline` (-1: forever), or -2 if it passed. */
static int
poll_ms(double deadline)
{
    if (deadline < 0)
        return -1;
    double left = deadline - sf_monotonic();
    if (left <= 0)
        return -2;
    if (left > 2e6)
        return 2000000000;
    return (int)(left * 1000.0) + 1;   /* round up: never wake just before the deadline */
}

/* With an interrupt hook, a wait longer than this is cut into slices, and the hook is
 * asked between them: a signal the kernel handed to another thread (which only sets
 * Python's "pending" flag and never interrupts this thread's poll) is then acted on
 * within a slice, even when the wait has no deadline. */
#define SIGNAL_SLICE_MS 100

/* Poll fd for `events` until the deadline. 1 ready, 0 deadline passed, -1 the hook
 * asked to stop (e->code = SF_IO_INTERRUPTED), -2 poll failed (errno in e). */
static int
wait_fd(int fd, short events, double deadline, const sf_interrupt_hook *hook, sf_io_error *e)
{
    for (;;) {
        int ms = poll_ms(deadline);
        if (ms == -2)
            return 0;
        int sliced = hook != NULL && (ms < 0 || ms > SIGNAL_SLICE_MS);
        if (sliced)
            ms = SIGNAL_SLICE_MS;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r == 0) {
            if (sliced) {
                if (hook->on_eintr(hook->arg) < 0) {
                    set_error(e, SF_IO_INTERRUPTED, EINTR, "interrupted");
                    return -1;
                }
                continue;
            }
            if (deadline >= 0 && sf_monotonic() < deadline)
                continue;    /* woke a hair early */
            return 0;
        }
        if (errno == EINTR) {
            if (hook != NULL && hook->on_eintr(hook->arg) < 0) {
                set_error(e, SF_IO_INTERRUPTED, EINTR, "interrupted");
                return -1;
            }
            continue;
        }
        set_error(e, SF_IO_SOCKET, errno, "poll failed: %s", strerror(errno));
        return -2;
    }
}

/* Did a signal handler raise before the call began (see sf_interrupt_hook)? Then
 * 1, with e filled: the call returns without a wait. */
static int
interrupted_before(const sf_interrupt_hook *hook, sf_io_error *e)
{
    if (hook == NULL || !hook->interrupted)
        return 0;
    set_error(e, SF_IO_INTERRUPTED, EINTR, "interrupted");
    return 1;
}

/* EINTR in a syscall: 0 go on, -1 stop (e filled). */
static int
on_eintr(const sf_interrupt_hook *hook, sf_io_error *e)
{
    if (hook != NULL && hook->on_eintr(hook->arg) < 0) {
        set_error(e, SF_IO_INTERRUPTED, EINTR, "interrupted");
        return -1;
    }
    return 0;
}

/* May this wait happen inside a blocking syscall, bounded by SO_RCVTIMEO/SO_SNDTIMEO?
 * Only on a blocking socket, and only when the whole io_timeout is (about) what is
 * left of the deadline, so the kernel's bound is the operation's bound. Never without
 * a bound (socket_timeout=None): such a wait polls in slices (wait_fd), so that a
 * signal the kernel hands to another thread still ends it. */
static int
kernel_wait_ok(const sf_transport *t, double deadline)
{
    if (t->nonblocking)
        return 0;
    if (deadline < 0)
        return 0;
    if (t->io_timeout < 0)
        return 0;
    return deadline - sf_monotonic() >= t->io_timeout - KERNEL_WAIT_SLACK;
}

/* ---------------------------------------------------------------- socket set-up */

static void
set_io_timeout(int fd, double timeout)
{
    struct timeval tv = {0, 0};     /* 0 = block forever */
    if (timeout >= 0) {
        tv.tv_sec = (time_t)timeout;
        tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
        if (tv.tv_sec == 0 && tv.tv_usec == 0)
            tv.tv_usec = 1;         /* a zero timeout would mean "forever" */
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int
set_blocking(int fd, int blocking)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    int want = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
    if (want != flags && fcntl(fd, F_SETFL, want) < 0)
        return -1;
    return 0;
}

static int
set_keepalive(int fd, const int *opts)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0)
        return -1;
    if (opts == NULL) {
#ifdef TCP_KEEPIDLE
        /* redis-py's defaults: idle 30 s, probes every 5 s, 3 probes */
        int idle = 30, intvl = 5, cnt = 3;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
        return 0;
    }
    for (const int *o = opts; o[0] != -1; o += 2) {
        int v = o[1];
        if (setsockopt(fd, IPPROTO_TCP, o[0], &v, sizeof v) < 0)
            return -1;
    }
    return 0;
}

/* Connect one non-blocking socket to one address within `timeout`.
 * Returns the fd, or -1 with errno set (ETIMEDOUT: the timeout), or -2 interrupted. */
static int
connect_addr(int family, int socktype, int protocol, const struct sockaddr *addr,
             socklen_t addrlen, double timeout, const sf_interrupt_hook *hook, sf_io_error *e)
{
    int fd = socket(family, socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0)
        return -1;
    double deadline = timeout >= 0 ? sf_monotonic() + timeout : SF_NO_DEADLINE;
    if (connect(fd, addr, addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        int w = wait_fd(fd, POLLOUT, deadline, hook, e);
        if (w <= 0) {
            int err = w == 0 ? ETIMEDOUT : e->err;
            close(fd);
            errno = err;
            return w == -1 ? -2 : -1;
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr) {
            close(fd);
            errno = soerr;
            return -1;
        }
    }
    return fd;
}

static void
connect_failed(sf_io_error *e, const char *where, int err)
{
    if (err == ETIMEDOUT)
        set_error(e, SF_IO_TIMEOUT, err, "Timeout connecting to server");
    else
        set_error(e, SF_IO_CONNECT, err, "Error %d connecting to %s. %s.", err, where,
                  strerror(err));
}

static int
connect_tcp(const sf_endpoint *ep, const sf_interrupt_hook *hook, sf_io_error *e)
{
    char where[300], portstr[16];
    snprintf(where, sizeof where, "%s:%d", ep->host, ep->port);
    snprintf(portstr, sizeof portstr, "%d", ep->port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(ep->host, portstr, &hints, &res);
    if (gai != 0) {
        if (gai == EAI_SYSTEM)
            connect_failed(e, where, errno);
        else
            set_error(e, SF_IO_CONNECT, gai, "Error %d connecting to %s. %s.", gai, where,
                      gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = connect_addr(ai->ai_family, ai->ai_socktype, ai->ai_protocol, ai->ai_addr,
                          ai->ai_addrlen, ep->connect_timeout, hook, e);
        if (fd >= 0)
            break;
        if (fd == -2) {
            freeaddrinfo(res);
            return -1;      /* interrupted: e says so */
        }
        err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        connect_failed(e, where, err);
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ep->keepalive && set_keepalive(fd, ep->keepalive_opts) < 0) {
        err = errno;
        close(fd);
        set_error(e, SF_IO_CONNECT, err, "Error %d setting keepalive on %s. %s.", err, where,
                  strerror(err));
        return -1;
    }
    return fd;
}

static int
connect_unix(const sf_endpoint *ep, const sf_interrupt_hook *hook, sf_io_error *e)
{
    const char *where = ep->unix_path;    /* redis-py names the path alone */
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(ep->unix_path) >= sizeof addr.sun_path) {
        set_error(e, SF_IO_CONNECT, ENAMETOOLONG, "Error %d connecting to %s. %s.",
                  ENAMETOOLONG, where, strerror(ENAMETOOLONG));
        return -1;
    }
    memcpy(addr.sun_path, ep->unix_path, strlen(ep->unix_path) + 1);
    int fd = connect_addr(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&addr, sizeof addr,
                          ep->connect_timeout, hook, e);
    if (fd == -2)
        return -1;
    if (fd < 0) {
        connect_failed(e, where, errno);
        return -1;
    }
    return fd;
}

/* ---------------------------------------------------------------- TLS */

static int
is_ip_literal(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* OpenSSL's own socket BIO writes with write(2): on a connection the peer (or the
 * monitor's shutdown) closed, that raises SIGPIPE, which kills a process that did
 * not ignore it. This BIO sends with MSG_NOSIGNAL, like the plain path. */
static BIO_METHOD *nosigpipe_method;
static pthread_once_t nosigpipe_once = PTHREAD_ONCE_INIT;

static int
nosigpipe_write(BIO *bio, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return (int)n;
}

static int
nosigpipe_read(BIO *bio, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return (int)n;
}

static long
nosigpipe_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
nosigpipe_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

static void
make_nosigpipe_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "sentinelfast socket");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write(m, nosigpipe_write) || !BIO_meth_set_read(m, nosigpipe_read)
        || !BIO_meth_set_ctrl(m, nosigpipe_ctrl) || !BIO_meth_set_create(m, nosigpipe_create)) {
        BIO_meth_free(m);
        return;
    }
    nosigpipe_method = m;
}

/* A BIO on fd that never raises SIGPIPE, or NULL (out of memory). */
static BIO *
nosigpipe_bio(int fd)
{
    if (pthread_once(&nosigpipe_once, make_nosigpipe_method) != 0 || nosigpipe_method == NULL)
        return NULL;
    BIO *bio = BIO_new(nosigpipe_method);
    if (bio != NULL)
        BIO_set_data(bio, (void *)(intptr_t)fd);
    return bio;
}

/* Before every SSL call: SSL_get_error reads the thread's error queue and errno. */
static void
tls_begin(void)
{
    ERR_clear_error();
    errno = 0;
}

/* What an SSL call that returned `r` means. 1 progress, 0 wait for *want, -1 error (e). */
static int
tls_outcome(sf_transport *t, int r, int reading, int *want, sf_io_error *e)
{
    int err = SSL_get_error(t->ssl, r);
    char reason[200];
    switch (err) {
    case SSL_ERROR_NONE:
        return 1;
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
        return -1;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (errno == 0 || errno == EPIPE || errno == ECONNRESET)
                set_error(e, SF_IO_CLOSED, errno, "Connection closed by server.");
            else if (reading)
                set_recv_error(e, errno);
            else
                set_send_error(e, errno);
            return -1;
        }
        /* fall through - OpenSSL says why */
    default:
        tls_reason(reason, sizeof reason, "TLS error");
        if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
            return -1;
        }
        set_error(e, SF_IO_TLS, err, "Error while %s socket: [SSL] %s",
                  reading ? "reading from" : "writing to", reason);
        return -1;
    }
}

static int
tls_handshake(sf_transport *t, const sf_endpoint *ep, const sf_interrupt_hook *hook,
              sf_io_error *e)
{
    const sf_tls_params *p = ep->tls;
    const char *name = p->server_hostname != NULL ? p->server_hostname : ep->host;
    char where[300];
    snprintf(where, sizeof where, "%s:%d", ep->host ? ep->host : ep->unix_path, ep->port);

    ERR_clear_error();
    t->ssl = SSL_new(p->ctx);
    if (t->ssl == NULL) {
        set_error(e, SF_IO_NOMEM, ENOMEM, "cannot create a TLS session");
        return -1;
    }
    SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    BIO *bio = nosigpipe_bio(t->fd);
    if (bio == NULL) {
        set_error(e, SF_IO_NOMEM, ENOMEM, "cannot create a TLS session");
        return -1;
    }
    SSL_set_bio(t->ssl, bio, bio);      /* the session owns the BIO now */
    if (name != NULL) {
        int ip = is_ip_literal(name);
        if (!ip && !SSL_set_tlsext_host_name(t->ssl, name))
            goto ssl_error;
        if (p->check_hostname) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
                        : X509_VERIFY_PARAM_set1_host(vp, name, 0);
            if (!ok)
                goto ssl_error;
        }
    }
    double deadline = ep->connect_timeout >= 0 ? sf_monotonic() + ep->connect_timeout
                                               : SF_NO_DEADLINE;
    for (;;) {
        tls_begin();
        int r = SSL_connect(t->ssl);
        if (r == 1)
            return 0;
        int err = SSL_get_error(t->ssl, r);
        short want;
        if (err == SSL_ERROR_WANT_READ)
            want = POLLIN;
        else if (err == SSL_ERROR_WANT_WRITE)
            want = POLLOUT;
        else {
            long verify = SSL_get_verify_result(t->ssl);
            if (verify != X509_V_OK) {
                set_error(e, SF_IO_TLS, (int)verify,
                          "Error 1 connecting to %s. [SSL: CERTIFICATE_VERIFY_FAILED] "
                          "certificate verify failed: %s.", where,
                          X509_verify_cert_error_string(verify));
                return -1;
            }
            if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                int en = errno ? errno : ECONNRESET;
                set_error(e, SF_IO_TLS, en, "Error %d connecting to %s. %s.", en, where,
                          errno ? strerror(en) : "TLS handshake: connection closed by server");
                return -1;
            }
            goto ssl_error;
        }
        int w = wait_fd(t->fd, want, deadline, hook, e);
        if (w == 0) {
            set_error(e, SF_IO_TIMEOUT, ETIMEDOUT, "Timeout connecting to server");
            return -1;
        }
        if (w < 0)
            return -1;
    }

ssl_error:;
    char reason[200];
    tls_reason(reason, sizeof reason, "TLS handshake failed");
    set_error(e, SF_IO_TLS, 1, "Error 1 connecting to %s. [SSL] %s.", where, reason);
    return -1;
}

/* ---------------------------------------------------------------- API */

int
sf_transport_connect(sf_transport *t, const sf_endpoint *ep, const sf_interrupt_hook *hook,
                     sf_io_error *e)
{
    t->fd = -1;
    t->ssl = NULL;
    if (interrupted_before(hook, e))
        return -1;
    int fd = ep->unix_path != NULL ? connect_unix(ep, hook, e) : connect_tcp(ep, hook, e);
    if (fd < 0)
        return -1;
    t->fd = fd;
    t->nonblocking = ep->nonblocking || ep->tls != NULL;
    t->io_timeout = ep->io_timeout;
    t->fork_generation = sf_fork_generation;
    if (ep->tls != NULL) {
        if (tls_handshake(t, ep, hook, e) < 0) {
            sf_transport_close(t, 0);
            return -1;
        }
        return 0;
    }
    if (!t->nonblocking) {
        if (set_blocking(fd, 1) < 0) {
            int err = errno;
            sf_transport_close(t, 0);
            set_error(e, SF_IO_CONNECT, err, "Error %d connecting. %s.", err, strerror(err));
            return -1;
        }
        set_io_timeout(fd, ep->io_timeout);
    }
    return 0;
}

/* A plain socket: one syscall when it can wait in the kernel, else poll + MSG_DONTWAIT. */
int
sf_transport_send(sf_transport *t, const char *buf, size_t len, double deadline,
                  const sf_interrupt_hook *hook, sf_io_error *e)
{
    if (t->fd < 0) {
        set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
        return -1;
    }
    if (interrupted_before(hook, e))
        return -1;
    while (len > 0) {
        ssize_t n;
        int want = POLLOUT;
        if (t->ssl != NULL) {
            tls_begin();
            int chunk = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
            int r = SSL_write(t->ssl, buf, chunk);
            if (r > 0) {
                buf += r;
                len -= (size_t)r;
                continue;
            }
            int o = tls_outcome(t, r, 0, &want, e);
            if (o < 0)
                return -1;
        }
        else {
            int kernel = kernel_wait_ok(t, deadline);
            n = send(t->fd, buf, len, MSG_NOSIGNAL | (kernel ? 0 : MSG_DONTWAIT));
            if (n >= 0) {
                buf += n;
                len -= (size_t)n;
                continue;
            }
            if (errno == EINTR) {
                if (on_eintr(hook, e) < 0)
                    return -1;
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                set_send_error(e, errno);
                return -1;
            }
            if (kernel) {      /* SO_SNDTIMEO passed: that was the whole time */
                set_error(e, SF_IO_TIMEOUT, EAGAIN, "Timeout writing to socket");
                return -1;
            }
        }
        int w = wait_fd(t->fd, (short)want, deadline, hook, e);
        if (w == 0) {
            set_error(e, SF_IO_TIMEOUT, ETIMEDOUT, "Timeout writing to socket");
            return -1;
        }
        if (w < 0)
            return -1;
    }
    return 0;
}

ssize_t
sf_transport_recv(sf_transport *t, char *buf, size_t cap, double deadline,
                  const sf_interrupt_hook *hook, sf_io_error *e)
{
    if (t->fd < 0) {
        set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
        return -1;
    }
    if (interrupted_before(hook, e))
        return -1;
    for (;;) {
        int want = POLLIN;
        if (t->ssl != NULL) {
            tls_begin();
            int chunk = cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap;
            int r = SSL_read(t->ssl, buf, chunk);
            if (r > 0)
                return r;
            if (tls_outcome(t, r, 1, &want, e) < 0)
                return -1;
        }
        else {
            int kernel = kernel_wait_ok(t, deadline);
            ssize_t n = recv(t->fd, buf, cap, kernel ? 0 : MSG_DONTWAIT);
            if (n > 0)
                return n;
            if (n == 0) {
                set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
                return -1;
            }
            if (errno == EINTR) {
                if (on_eintr(hook, e) < 0)
                    return -1;
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                set_recv_error(e, errno);
                return -1;
            }
            if (kernel) {      /* SO_RCVTIMEO passed: that was the whole time */
                set_error(e, SF_IO_TIMEOUT, EAGAIN, "Timeout reading from socket");
                return -1;
            }
        }
        int w = wait_fd(t->fd, (short)want, deadline, hook, e);
        if (w == 0) {
            set_error(e, SF_IO_TIMEOUT, ETIMEDOUT, "Timeout reading from socket");
            return -1;
        }
        if (w < 0)
            return -1;
    }
}

ssize_t
sf_transport_read_nb(sf_transport *t, char *buf, size_t cap, int *want, sf_io_error *e)
{
    if (t->fd < 0) {
        set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
        return -1;
    }
    *want = POLLIN;
    if (t->ssl != NULL) {
        tls_begin();
        int chunk = cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap;
        int r = SSL_read(t->ssl, buf, chunk);
        if (r > 0)
            return r;
        return tls_outcome(t, r, 1, want, e) < 0 ? -1 : 0;
    }
    for (;;) {
        ssize_t n = recv(t->fd, buf, cap, MSG_DONTWAIT);
        if (n > 0)
            return n;
        if (n == 0) {
            set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        set_recv_error(e, errno);
        return -1;
    }
}

ssize_t
sf_transport_write_nb(sf_transport *t, const char *buf, size_t len, int *want, sf_io_error *e)
{
    if (t->fd < 0) {
        set_error(e, SF_IO_CLOSED, 0, "Connection closed by server.");
        return -1;
    }
    *want = POLLOUT;
    if (len == 0)
        return 0;
    if (t->ssl != NULL) {
        tls_begin();
        int chunk = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
        int r = SSL_write(t->ssl, buf, chunk);
        if (r > 0)
            return r;
        return tls_outcome(t, r, 0, want, e) < 0 ? -1 : 0;
    }
    for (;;) {
        ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        set_send_error(e, errno);
        return -1;
    }
}

int
sf_transport_wait_readable(sf_transport *t, double deadline, const sf_interrupt_hook *hook,
                           sf_io_error *e)
{
    if (t->fd < 0)
        return 1;    /* the read will say it is closed */
    if (t->ssl != NULL && SSL_pending(t->ssl) > 0)
        return 1;
    if (interrupted_before(hook, e))
        return -1;
    int w = wait_fd(t->fd, POLLIN, deadline, hook, e);
    return w == -2 ? -1 : w;
}

size_t
sf_transport_pending(const sf_transport *t)
{
    if (t->ssl == NULL)
        return 0;
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : 0;
}

int
sf_transport_has_input(const sf_transport *t)
{
    if (t->fd < 0)
        return 0;
    if (sf_transport_pending(t) > 0)
        return 1;
    struct pollfd p = {t->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

void
sf_transport_shutdown(sf_transport *t)
{
    int fd = __atomic_load_n(&t->fd, __ATOMIC_ACQUIRE);
    if (fd >= 0)
        (void)shutdown(fd, SHUT_RDWR);
}

void
sf_transport_close(sf_transport *t, int graceful)
{
    if (t->ssl != NULL) {
        if (graceful && t->fork_generation == sf_fork_generation && t->fd >= 0) {
            /* one attempt to send close_notify; never wait for the peer's */
            ERR_clear_error();
            (void)SSL_shutdown(t->ssl);
        }
        else {
            /* another process's session (or a broken one): free without a word */
            SSL_set_quiet_shutdown(t->ssl, 1);
        }
        SSL_free(t->ssl);
        ERR_clear_error();
        t->ssl = NULL;
    }
    if (t->fd >= 0) {
        int fd = t->fd;
        __atomic_store_n(&t->fd, -1, __ATOMIC_RELEASE);
        close(fd);
    }
}
