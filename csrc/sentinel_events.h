/* Sentinel's messages as plain C structs: event messages from the Pub/Sub channels
 * (+switch-master, +try-failover, +sentinel, ...) and the replies of SENTINEL MASTER
 * and SENTINEL SENTINELS. No I/O and no Python here: the functions only read their
 * arguments and fill their outputs (unit-tested through a small C driver in
 * tests/test_monitor.py).
 *
 * Every address that comes from Sentinel is validated before anyone may connect to
 * it: the host non-empty, shorter than SF_HOST_MAX, valid UTF-8 with no control
 * characters; the port a decimal number in 1..65535 (no sign, no wrap-around). A
 * message or entry with a bad address is reported as SF_EVENT_BAD_ADDRESS / skipped,
 * with the reason, so that the monitor can log it. */
#ifndef SF_SENTINEL_EVENTS_H
#define SF_SENTINEL_EVENTS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#define SF_EVENT_NAME_MAX 128
#define SF_EVENT_HOST_MAX 256
#define SF_EVENT_WHY_MAX 160

typedef enum {
    SF_EVENT_IGNORED = 0,     /* nothing the monitor acts on */
    SF_EVENT_SWITCH_MASTER,   /* the service's master is now host:port */
    SF_EVENT_FAILOVER_ELECTION,   /* a failover is being decided (+try-failover,
                                     +elected-leader, select-slave): hold writes if the
                                     master is down (odown), not if it is a planned one */
    SF_EVENT_FAILOVER_BEGIN,  /* the replica is about to be promoted (+selected-slave,
                                 send-slaveof-noone, wait-promotion): hold writes; host and
                                 port: that replica (if has_instance) */
    SF_EVENT_PROMOTED,        /* +promoted-slave: host:port is the master now (Sentinel can
                                 no longer abort this failover) */
    SF_EVENT_MASTER_DOWN,     /* +odown */
    SF_EVENT_MASTER_UP,       /* -odown */
    SF_EVENT_FAILOVER_ABORT,  /* the failover was given up: release the hold, re-check */
    SF_EVENT_SENTINEL_ADDED,  /* another Sentinel (host:port) watches the service */
    SF_EVENT_NOTICE,          /* worth reporting (+odown, +convert-to-slave, ...) */
    SF_EVENT_BAD_ADDRESS,     /* would have named an address, but it is invalid (see why) */
} sf_event_action;

typedef struct {
    sf_event_action action;
    char service[SF_EVENT_NAME_MAX];   /* the master name the message is about */
    char host[SF_EVENT_HOST_MAX];      /* SWITCH_MASTER, PROMOTED: the new master;
                                          SENTINEL_ADDED; FAILOVER_BEGIN: the replica */
    int port;
    int has_instance;                  /* host/port hold the replica an event is about */
    int has_master;                    /* FAILOVER_*: the master it is about, if named */
    char master_host[SF_EVENT_HOST_MAX];
    int master_port;
    char why[SF_EVENT_WHY_MAX];        /* BAD_ADDRESS: what is wrong */
} sf_sentinel_event;

/* Parse one event: `channel` (e.g. "+switch-master") and its payload (not
 * NUL-terminated, `len` bytes). Fills *ev and returns ev->action. */
sf_event_action sf_parse_sentinel_event(const char *channel, size_t channel_len,
                                        const char *payload, size_t len, sf_sentinel_event *ev);

/* A port: decimal digits only, 1..65535. 0 and -1 on anything else. */
int sf_parse_port(const char *s, size_t len, int *port);

/* A host Sentinel names: 1..SF_EVENT_HOST_MAX-1 bytes of valid UTF-8 without control
 * characters or spaces. 1 valid, 0 not. */
int sf_valid_host(const char *s, size_t len);

/* A SENTINEL MASTER reply (a flat array of field/value pairs). */
typedef struct {
    int has_address;                 /* ip and port present and valid */
    char host[SF_EVENT_HOST_MAX];
    int port;
    long long config_epoch;          /* -1 when absent or malformed */
    long down_after_ms;              /* 0 when absent or malformed */
    int is_master, s_down, o_down, failover_in_progress;
    char why[SF_EVENT_WHY_MAX];      /* set when the address was present but invalid */
} sf_master_report;

/* 0 parsed (check has_address / why), -1 not a SENTINEL MASTER reply (an error
 * reply, or not an array of pairs). */
int sf_parse_master_reply(const redisReply *r, sf_master_report *out);

/* One entry of a SENTINEL SENTINELS reply: 1 valid address in host/port, 0 skipped
 * (why says why), -1 not an entry at all. */
int sf_parse_sentinel_entry(const redisReply *entry, char *host, size_t hostcap, int *port,
                            char *why, size_t whycap);

#endif
