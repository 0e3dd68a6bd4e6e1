/* Socket I/O with the GIL released around every blocking syscall. */
#include "socket_io.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/* A Python int that fits a C int, or -1 with OverflowError/TypeError set. */
static int
as_c_int(PyObject *o, int *out)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "socket option value out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int
set_keepalive(int fd, const sf_keepalive *ka)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0)
        return -1;
    if (ka->options == NULL || ka->options == Py_None) {
#ifdef TCP_KEEPIDLE
        /* redis-py's defaults: idle 30 s, probes every 5 s, 3 probes */
        int idle = 30, intvl = 5, cnt = 3;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(ka->options, &pos, &key, &value)) {
        int opt, v;
        if (as_c_int(key, &opt) < 0 || as_c_int(value, &v) < 0)
            return -2;
        if (setsockopt(fd, IPPROTO_TCP, opt, &v, sizeof v) < 0)
            return -1;
    }
    return 0;
}

/* Wait for a non-blocking connect to finish. 0 ok, -1 errno set, -2 timeout,
 * -3 Python exception (a signal handler raised). */
static int
wait_connected(int fd, double timeout)
{
    double deadline = timeout >= 0 ? sf_monotonic() + timeout : 0;
    for (;;) {
        int ms = -1;
        if (timeout >= 0) {
            double left = deadline - sf_monotonic();
            if (left <= 0)
                return -2;
            ms = (int)(left * 1000.0) + 1;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        int r, err;
        Py_BEGIN_ALLOW_THREADS
        r = poll(&p, 1, ms);
        err = errno;
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return -3;
                continue;
            }
            errno = err;
            return -1;
        }
        if (r == 0)
            return -2;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            return -1;
        if (soerr) {
            errno = soerr;
            return -1;
        }
        return 0;
    }
}

/* Connect one socket to one address. Returns fd, or -1 (errno), -2 timeout, -3 exception. */
static int
connect_addr(int family, int socktype, int protocol, const struct sockaddr *addr,
             socklen_t addrlen, double connect_timeout)
{
    int fd = socket(family, socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0)
        return -1;
    int r, err;
    Py_BEGIN_ALLOW_THREADS
    r = connect(fd, addr, addrlen);
    err = errno;
    Py_END_ALLOW_THREADS
    if (r < 0) {
        if (err != EINPROGRESS && err != EINTR) {
            close(fd);
            errno = err;
            return -1;
        }
        int w = wait_connected(fd, connect_timeout);
        if (w < 0) {
            err = errno;
            close(fd);
            errno = err;
            return w;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int
raise_connect_error(sf_state *st, const char *where, int kind, int err)
{
    if (kind == -3)
        return -1;   /* exception already set */
    if (kind == -2)
        PyErr_Format(st->TimeoutError, "Timeout connecting to server %s", where);
    else
        PyErr_Format(st->ConnectionError, "Error %d connecting to %s. %s.", err, where,
                     strerror(err));
    return -1;
}

int
sf_sock_connect_tcp(sf_state *st, const char *host, int port, double connect_timeout,
                    double io_timeout, const sf_keepalive *keepalive)
{
    char where[320];
    snprintf(where, sizeof where, "%s:%d", host, port);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai;
    Py_BEGIN_ALLOW_THREADS
    gai = getaddrinfo(host, portstr, &hints, &res);
    Py_END_ALLOW_THREADS
    if (gai != 0) {
        PyErr_Format(st->ConnectionError, "Error %d connecting to %s. %s.", gai, where,
                     gai_strerror(gai));
        return -1;
    }
    int fd = -1, kind = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = connect_addr(ai->ai_family, ai->ai_socktype, ai->ai_protocol, ai->ai_addr,
                          ai->ai_addrlen, connect_timeout);
        if (fd >= 0)
            break;
        kind = fd;
        err = errno;
        if (kind == -3)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return raise_connect_error(st, where, kind, err);

    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (keepalive != NULL && keepalive->enabled) {
        int r = set_keepalive(fd, keepalive);
        if (r < 0) {
            close(fd);
            if (r == -1)
                PyErr_Format(st->ConnectionError, "Error %d setting keepalive on %s. %s.",
                             errno, where, strerror(errno));
            return -1;
        }
    }
    set_io_timeout(fd, io_timeout);
    return fd;
}

int
sf_sock_connect_unix(sf_state *st, const char *path, double connect_timeout, double io_timeout)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        PyErr_Format(st->ConnectionError, "Error connecting to unix socket: %s. path too long.",
                     path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = connect_addr(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&addr, sizeof addr,
                          connect_timeout);
    if (fd < 0)
        return raise_connect_error(st, path, fd, errno);
    set_io_timeout(fd, io_timeout);
    return fd;
}

/* A blocking send/recv interrupted by signals: the socket timeout counts from the
 * first attempt, so after EINTR it is shortened to what remains, and put back after. */
typedef struct {
    double deadline;
    int shortened;
} eintr_clock;

/* EINTR: run the signal handlers (-1 if one raised), then shorten the timeout. */
static int
after_eintr(eintr_clock *clk, int fd, double timeout)
{
    if (!clk->shortened && timeout >= 0)
        clk->deadline = sf_monotonic() + timeout;
    clk->shortened = 1;
    if (PyErr_CheckSignals() < 0)
        return -1;
    if (timeout >= 0) {
        double left = clk->deadline - sf_monotonic();
        set_io_timeout(fd, left > 0 ? left : 1e-6);
    }
    return 0;
}

static void
restore_timeout(eintr_clock *clk, int fd, double timeout)
{
    if (clk->shortened)
        set_io_timeout(fd, timeout);
}

int
sf_sock_send_all(sf_state *st, int fd, const char *buf, size_t len, double timeout)
{
    eintr_clock clk = {0, 0};
    while (len > 0) {
        ssize_t n;
        int err;
        Py_BEGIN_ALLOW_THREADS
        n = send(fd, buf, len, MSG_NOSIGNAL);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n >= 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (err == EINTR) {
            if (after_eintr(&clk, fd, timeout) < 0)
                return -1;
            continue;
        }
        restore_timeout(&clk, fd, timeout);
        if (err == EAGAIN || err == EWOULDBLOCK)
            PyErr_SetString(st->TimeoutError, "Timeout writing to socket");
        else
            PyErr_Format(st->ConnectionError, "Error %d while writing to socket. %s.", err,
                         strerror(err));
        return -1;
    }
    restore_timeout(&clk, fd, timeout);
    return 0;
}

Py_ssize_t
sf_sock_recv(sf_state *st, int fd, char *buf, size_t cap, double timeout)
{
    eintr_clock clk = {0, 0};
    for (;;) {
        ssize_t n;
        int err;
        Py_BEGIN_ALLOW_THREADS
        n = recv(fd, buf, cap, 0);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n > 0) {
            restore_timeout(&clk, fd, timeout);
            return n;
        }
        if (n == 0) {
            PyErr_SetString(st->ConnectionError, "Connection closed by server.");
            return -1;
        }
        if (err == EINTR) {
            if (after_eintr(&clk, fd, timeout) < 0)
                return -1;
            continue;
        }
        restore_timeout(&clk, fd, timeout);
        if (err == EAGAIN || err == EWOULDBLOCK)
            PyErr_SetString(st->TimeoutError, "Timeout reading from socket");
        else
            PyErr_Format(st->ConnectionError, "Error while reading from socket: (%d, '%s')",
                         err, strerror(err));
        return -1;
    }
}

int
sf_sock_is_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 0);
    return r != 0;
}

void
sf_sock_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
