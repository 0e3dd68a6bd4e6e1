/* The per-service state that pools and connections follow: the master address
 * Sentinel names, the switch sequence (`epoch`), the failover hold, and the master
 * sockets a switch shuts down. The monitor loop (sentinel_monitor.c) changes it; the
 * pools (pool.c) and connections (connection.c) read it, without the GIL.
 *
 * Locking: `mutex` guards every field that is not marked atomic. It is a leaf lock:
 * nothing else is locked while it is held, no Python object is built and no
 * Python code runs under it, and it is never held across network I/O. `epoch` and
 * `failover` are also readable atomically (the pool's hot path). */
#ifndef SF_SENTINEL_SERVICE_H
#define SF_SENTINEL_SERVICE_H

#include "sentinelfast.h"
#include <pthread.h>

#define SF_SERVICE_NAME_MAX 128
#define SF_HOST_MAX 256

typedef struct sf_service {
    pthread_mutex_t mutex;      /* guards everything below that is not atomic */
    pthread_cond_t changed;     /* broadcast when failover ends or the master moves */
    unsigned long fork_generation;
    char name[SF_SERVICE_NAME_MAX];   /* immutable */
    char host[SF_HOST_MAX];     /* current master; "" = unknown */
    int port;
    long long config_epoch;     /* of the current master, -1 = unknown (after +switch-master) */
    long down_after_ms;         /* from SENTINEL MASTER, 0 = unknown */
    double hold_timeout;        /* longest hold of new commands during a failover */
    unsigned long epoch;        /* atomic: bumped on every master change */
    int failover;               /* atomic: 1 while Sentinel runs a failover */
    double failover_deadline;   /* hold new commands until then at most */
    int settling;               /* a switch happened; Sentinels may still report it in progress */
    int *fds;                   /* sockets of master connections, shut down on a switch */
    int nfds, capfds;
    /* counters */
    unsigned long switches, failovers, connections_dropped, holds, role_refusals;
} sf_service;

/* The Service object: a Python handle on an sf_service. */
typedef struct {
    PyObject_HEAD
    sf_service *svc;
} sf_service_obj;

extern PyType_Spec sf_service_spec;

/* A new Service object (GIL held). NULL with an exception set. */
PyObject *sf_service_create(sf_state *st, const char *name, double hold_timeout);

static inline unsigned long
sf_service_epoch(sf_service *svc)
{
    return __atomic_load_n(&svc->epoch, __ATOMIC_ACQUIRE);
}

/* ---- for pools and connections (GIL held on entry; released while waiting) */

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

/* down-after-milliseconds as last reported by Sentinel (0 = unknown). */
long sf_service_down_after_ms(sf_service *svc);

/* ---- for the monitor loop (no GIL needed; every call locks and unlocks) */

/* Start a hold: new commands wait, master connections are shut down. `host`/`port`:
 * the master the failover is about, when the news names it (else NULL). Returns 1 if
 * a hold started (*dropped: connections shut down), 0 if one was already running,
 * -1 if the news is about the master we already switched away from (no hold). */
int sf_service_begin_failover(sf_service *svc, const char *host, int port, int *dropped);

/* End a running hold (an aborted failover). 1 if one was running. */
int sf_service_end_failover(sf_service *svc);

/* Release a hold whose deadline passed. 1 if one was released. */
int sf_service_expire_hold(sf_service *svc, double now);

/* The earliest hold deadline, or `upto` if none is earlier. */
double sf_service_hold_deadline(sf_service *svc, double upto);

typedef struct {
    int moved;              /* the address changed */
    int was_known;          /* there was an address before */
    int ended_failover;     /* a hold ended without a move */
    int dropped;            /* connections shut down */
    char old[SF_HOST_MAX + 16];   /* "host:port" before */
} sf_switch_outcome;

/* The master is now host:port. config_epoch < 0: unknown (+switch-master carries
 * none). `from_switch_event`: +switch-master (ends any hold, marks the switch as
 * settling); otherwise a re-check, which moves the master only to a newer or equal
 * config-epoch and never ends a hold on the same address. */
void sf_service_switch_master(sf_service *svc, const char *host, int port, long long config_epoch,
                              int from_switch_event, sf_switch_outcome *out);

/* A Sentinel reports failover_in_progress for the service, naming host:port with
 * config_epoch. Is it the tail of the switch we already made (its master is the one
 * we switched to, or its config-epoch is not newer than ours, or than
 * `current_epoch`, what the same re-check learned of the current master)? Then no
 * new hold. */
int sf_service_is_settled_report(sf_service *svc, const char *host, int port,
                                 long long config_epoch, long long current_epoch);

/* A re-check saw no Sentinel with failover_in_progress: the last switch settled. */
void sf_service_mark_settled(sf_service *svc);

void sf_service_set_down_after(sf_service *svc, long down_after_ms);
void sf_service_set_hold_timeout(sf_service *svc, double hold_timeout);

/* A copy of the state, taken under the lock (objects are built from it after). */
typedef struct {
    char name[SF_SERVICE_NAME_MAX];
    char host[SF_HOST_MAX];
    int port;
    long long config_epoch;
    unsigned long epoch;
    int failover;
    unsigned long switches, failovers, connections_dropped, holds, role_refusals;
    int nfds;
} sf_service_snapshot;

void sf_service_snapshot_of(sf_service *svc, sf_service_snapshot *snap);

#endif
