/* The promotion probe: ROLE, every few milliseconds, to the replica that Sentinel is
 * promoting, so that a client follows the new master the moment it is one.
 *
 * Sentinel's leader announces the replica it chose (+selected-slave,
 * +failover-state-send-slaveof-noone) one timer tick before it sends it REPLICAOF NO ONE,
 * and announces the promotion (+promoted-slave) only when its next INFO of the replica
 * shows role:master, up to a second later; +switch-master comes after the other replicas
 * are reconfigured. The monitor holds writes from the announcement; the probe ends the
 * hold as soon as the replica answers ROLE with "master". DESIGN.md ("Following a
 * failover early") says why that is safe and what risk remains.
 *
 * One probe per service, driven by the monitor loop (no Python, no GIL, no lock: the
 * loop alone uses it). Its link is a query link of sentinel_link.h to the data node,
 * with the node's credentials and TLS settings (those of the service's connections). */
#ifndef SF_PROMOTION_PROBE_H
#define SF_PROMOTION_PROBE_H

#include <poll.h>

#include "sentinel_link.h"
#include "sentinel_service.h"

/* How often ROLE is asked (one at a time: the next after the last reply). */
#define SF_PROBE_INTERVAL 0.002

typedef struct {
    int active;
    char host[SF_HOST_MAX];
    int port;
    sf_link link;
    double next_send;        /* ask ROLE then (no reply pending) */
    double next_connect;     /* a failed link: connect again then */
    double give_up;          /* stop probing then (the hold's deadline) */
    unsigned long asked;     /* ROLE commands sent by this probe */
    int failures;            /* links lost in a row */
} sf_probe;

void sf_probe_init(sf_probe *p);

/* Probe host:port until `give_up` (monotonic); a probe of another node stops first. */
void sf_probe_start(sf_probe *p, const char *host, int port, double give_up);

void sf_probe_stop(sf_probe *p);

/* Before the loop's poll(): connect when needed (a worker thread writes to wake_fd
 * when done), ask ROLE when due. Returns the earliest time the probe needs the loop
 * (at most `until`); fills *pfd and sets *polled when the link has a socket to poll. */
double sf_probe_prepare(sf_probe *p, double now, const sf_node_access *access, int wake_fd,
                        double until, struct pollfd *pfd, int *polled);

/* After poll(): collect a finished connect, do the I/O `revents` allows, check the
 * reply deadline. 1 when the replica answered that it is a master (the probe stops),
 * else 0. */
int sf_probe_after_poll(sf_probe *p, short revents, double now, const sf_node_access *access);

/* In a forked child: forget the parent's link without a word on it. */
void sf_probe_forget_after_fork(sf_probe *p);

#endif
