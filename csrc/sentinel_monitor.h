/* Failover awareness: what the monitor thread knows of each service, shared with
 * the pools and connections of that service without the GIL.
 *
 * The monitor (sentinel_monitor.c) keeps subscriptions to the Sentinels' event
 * channels and re-checks the master periodically. Pools read `epoch` and `failover`
 * atomically on every hand-out: a new epoch means the master moved (the pool retires
 * its connections); `failover` means Sentinel is replacing the master, and new
 * commands wait (bounded) instead of going to a master that is being demoted. */
#ifndef SF_SENTINEL_MONITOR_H
#define SF_SENTINEL_MONITOR_H

#include "sentinelfast.h"
#include <pthread.h>

typedef struct sf_service {
    pthread_mutex_t mutex;      /* guards everything below that is not atomic */
    pthread_cond_t changed;     /* broadcast when failover ends or the master moves */
    unsigned long fork_generation;
    char name[128];
    char host[256];             /* current master; "" = unknown */
    int port;
    long long config_epoch;
    long down_after_ms;         /* from SENTINEL MASTER, 0 = unknown */
    unsigned long epoch;        /* atomic: bumped on every master change */
    int failover;               /* atomic: 1 while Sentinel runs a failover */
    double failover_deadline;   /* hold new commands until then at most */
    int *fds;                   /* sockets of master connections, shut down on a switch */
    int nfds, capfds;
    /* counters */
    unsigned long switches, failovers, connections_dropped, holds, role_refusals;
} sf_service;

/* The Service object: a Python handle on an sf_service. */
typedef struct {
    PyObject_HEAD
    sf_service *svc;
    double hold_timeout;
} sf_service_obj;

extern PyType_Spec sf_service_spec;
extern PyType_Spec sf_monitor_spec;

static inline unsigned long
sf_service_epoch(sf_service *svc)
{
    return __atomic_load_n(&svc->epoch, __ATOMIC_ACQUIRE);
}

/* Wait (GIL released, in slices, Ctrl-C aware) while a failover of the service is
 * under way, until it ends or its hold deadline passes. 0, or -1 on a signal. */
int sf_service_wait_ready(sf_service *svc);

/* Copy the current master address; 0 if unknown. */
int sf_service_master(sf_service *svc, char *host, size_t hostlen, int *port);

/* Forget the master address (a connection found it is no master any more). */
void sf_service_invalidate(sf_service *svc, const char *host, int port);

/* Track a master connection's socket so that a switch can shut it down. */
void sf_service_add_fd(sf_service *svc, int fd);
void sf_service_remove_fd(sf_service *svc, int fd);

#endif
