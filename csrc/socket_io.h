/* Socket I/O: connect with timeouts, blocking send/recv with per-connection
 * timeouts.  Every blocking syscall runs with the GIL released; EINTR runs the
 * Python signal handlers (so Ctrl-C interrupts a blocked call) and then retries
 * with the remaining time. Errors are raised as sentinelfast exceptions. */
#ifndef SF_SOCKET_IO_H
#define SF_SOCKET_IO_H

#include "sentinelfast.h"

/* A timeout in seconds; negative means "wait forever". */
#define SF_NO_TIMEOUT (-1.0)

typedef struct {
    int enabled;
    PyObject *options;    /* dict {TCP_KEEPIDLE: 30, ...} or NULL for the defaults */
} sf_keepalive;

/* Connect to host:port: every address getaddrinfo returns (IPv4 and IPv6) is tried
 * in turn, each with `connect_timeout`. The socket gets TCP_NODELAY, keepalive and
 * `io_timeout` as its SO_RCVTIMEO/SO_SNDTIMEO. Returns the fd or -1 with
 * ConnectionError / TimeoutError set. */
int sf_sock_connect_tcp(sf_state *st, const char *host, int port, double connect_timeout,
                        double io_timeout, const sf_keepalive *keepalive);

/* Same for a unix domain socket path. */
int sf_sock_connect_unix(sf_state *st, const char *path, double connect_timeout,
                         double io_timeout);

/* Send the whole buffer. 0, or -1 with an exception set. */
int sf_sock_send_all(sf_state *st, int fd, const char *buf, size_t len, double timeout);

/* Receive at most `cap` bytes. Returns the count (> 0), or -1 with an exception set
 * (TimeoutError on timeout, ConnectionError on EOF or socket error). */
Py_ssize_t sf_sock_recv(sf_state *st, int fd, char *buf, size_t cap, double timeout);

/* Non-blocking check whether the peer closed the connection or sent unexpected data
 * (used only for idle connections on health checks). 1 = readable/closed, 0 = quiet. */
int sf_sock_is_readable(int fd);

void sf_sock_close(int fd);

#endif
