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
#include <openssl/ssl.h>

#define SF_SERVICE_NAME_MAX 128
#define SF_HOST_MAX 256

typedef struct sf_service {
    pthread_mutex_t mutex;      /* guards everything below that is not atomic */
    pthread_cond_t changed;     /* broadcast when failover ends or the master moves */
    unsigned long fork_generation;
    char name[SF_SERVICE_NAME_MAX];   /* immutable */
    char host[SF_HOST_MAX];     /* current master; "" = unknown */
    int port;
    int master_ever_known;      /* atomic: a master address was known once (never
                                   cleared); until then there is no failover to wait
                                   for (retry.c) */
    long long config_epoch;     /* of the current master, -1 = unknown (after +switch-master) */
    long down_after_ms;         /* from SENTINEL MASTER, 0 = unknown */
    double hold_timeout;        /* longest hold of new commands during a failover */
    unsigned long epoch;        /* atomic: bumped on every master change */
    unsigned long generation;   /* atomic: bumped only when the master's address changes
                                   (not when a failover begins); asyncio connections
                                   compare it before each command (Service.generation) */
    int failover;               /* atomic: 1 while Sentinel runs a failover */
    double failover_deadline;   /* hold new commands until then at most */
    int settling;               /* a switch happened; Sentinels may still report it in progress */
    int *fds;                   /* sockets of master connections, shut down on a switch */
    int nfds, capfds;
    /* How the monitor's promotion probe reaches the data nodes (Service.set_probe);
     * probe_enabled 0: no probe, the switch waits for Sentinel's +promoted-slave. */
    int probe_enabled;
    char *probe_username, *probe_password;      /* NULL: none */
    SSL_CTX *probe_tls;                         /* a reference of its own, or NULL */
    char probe_server_hostname[SF_HOST_MAX];
    int probe_check_hostname;
    /* A switch the probe made that Sentinel has not confirmed yet, and what it replaced
     * (restored if the failover is aborted after all). */
    /* The Sentinel-majority policy (Service.set_require_majority): while `isolated`
     * (atomic; set by the monitor), master commands wait, then fail. */
    int require_majority;
    int isolated;
    int unconfirmed;
    char prev_host[SF_HOST_MAX];
    int prev_port;
    long long prev_config_epoch;
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

/* A username, password or host name from Python (str, bytes or None) as a malloc'ed C
 * string (*out NULL for None): no NUL bytes, at most 400 bytes. 0, or -1 with an
 * exception set. GIL held. */
int sf_copy_credential(PyObject *obj, char **out, const char *what);

/* ---- for pools and connections (GIL held on entry; released while waiting) */

/* Wait (GIL released, in slices, Ctrl-C aware) while a failover of the service is
 * under way, until it ends or its hold deadline passes; and while the client is cut
 * off from a Sentinel majority (the policy), at most the hold timeout. 0 go on, -1 a
 * signal (exception set), SF_SERVICE_ISOLATED still cut off (no exception set: the
 * caller raises ConnectionError). */
#define SF_SERVICE_ISOLATED (-2)
int sf_service_wait_ready(sf_service *svc);
extern const char sf_service_isolated_message[];

/* A retry's backoff sleep (GIL released, in slices, Ctrl-C aware) that ends early when
 * the master moved since `epoch` and no failover is running: the new master is there
 * now. 0, or -1 on a signal. */
int sf_service_backoff_sleep(sf_service *svc, double seconds, unsigned long epoch);

/* Copy the current master address; 0 if unknown. */
int sf_service_master(sf_service *svc, char *host, size_t hostlen, int *port);

/* Forget the master address (a connection found it is no master any more). */
void sf_service_invalidate(sf_service *svc, const char *host, int port);

/* Track a master connection's socket so that a switch can shut it down. */
void sf_service_add_fd(sf_service *svc, int fd);
void sf_service_remove_fd(sf_service *svc, int fd);

/* Was a master address ever known (from discovery or the monitor)? A service that
 * never had one is not failing over: its clients fail at once (retry.c). */
int sf_service_master_ever_known(sf_service *svc);

/* down-after-milliseconds as last reported by Sentinel (0 = unknown). */
long sf_service_down_after_ms(sf_service *svc);

/* ---- for the monitor loop (no GIL needed; every call locks and unlocks) */

/* How to reach the service's data nodes (for the promotion probe). */
typedef struct {
    char username[256], password[512];
    int has_username, has_password;
    SSL_CTX *tls_ctx;                 /* a reference of its own (SSL_CTX_free it), or NULL */
    char server_hostname[SF_HOST_MAX];
    int check_hostname;
    double timeout;                   /* connect and reply timeout (the caller's) */
} sf_node_access;

/* The Sentinel-majority policy: is it on; set the cut-off state (1 if it changed;
 * becoming isolated starts a new epoch, so connections made before go through the
 * wait before their next command). */
int sf_service_requires_majority(sf_service *svc);
int sf_service_set_isolated(sf_service *svc, int isolated);

/* Copy the probe settings; 0 if probing is off for the service (nothing to free). */
int sf_service_probe_access(sf_service *svc, sf_node_access *access);

/* Start a hold: new commands wait, and master connections made before it go through
 * the hold before their next command (none is shut down: a reply on its way is still
 * read). `host`/`port`: the master the failover is about, when the news names it
 * (else NULL). Returns 1 if a hold started, 0 if one was already running, -1 if the
 * news is about the master we already switched away from (no hold). */
int sf_service_begin_failover(sf_service *svc, const char *host, int port);

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

typedef enum {
    SF_SWITCH_FROM_REPORT = 0,  /* a re-check: moves the master only to a newer or equal
                                   config-epoch, never ends a hold on the same address */
    SF_SWITCH_FROM_EVENT,       /* +switch-master or +promoted-slave: ends any hold, marks
                                   the switch as settling, confirms a probe's switch */
    SF_SWITCH_FROM_PROBE,       /* the probed replica answered ROLE "master": as an event,
                                   but unconfirmed until Sentinel announces it */
} sf_switch_source;

/* The master is now host:port. config_epoch < 0: unknown (the events carry none). */
void sf_service_switch_master(sf_service *svc, const char *host, int port, long long config_epoch,
                              sf_switch_source source, sf_switch_outcome *out);

/* Is the master a switch of the probe that Sentinel has not confirmed yet? */
int sf_service_has_unconfirmed(sf_service *svc);

/* The failover was aborted: undo a switch the probe made that Sentinel never confirmed
 * (back to the master it replaced). 1 if it did (*out says how). */
int sf_service_revert_unconfirmed(sf_service *svc, sf_switch_outcome *out);

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
    int isolated;
    int master_ever_known;
    long down_after_ms;
    unsigned long switches, failovers, connections_dropped, holds, role_refusals;
    int nfds;
} sf_service_snapshot;

void sf_service_snapshot_of(sf_service *svc, sf_service_snapshot *snap);

#endif
