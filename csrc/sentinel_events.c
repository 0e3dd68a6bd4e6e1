/* Parsing Sentinel's event messages and SENTINEL MASTER / SENTINELS replies into
 * plain structs (see sentinel_events.h). No I/O, no Python, no allocation. */
#include "sentinel_events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel_flags.h"

#define MAX_WORDS 16

int
sf_parse_port(const char *s, size_t len, int *port)
{
    char buf[16];
    if (len == 0 || len >= sizeof buf)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;                /* no sign, no spaces, no hex */
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int
sf_valid_host(const char *s, size_t len)
{
    if (len == 0 || len >= SF_EVENT_HOST_MAX)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            if (c <= 0x20 || c == 0x7f)
                return 0;             /* control characters, spaces, NUL */
            p++;
            continue;
        }
        int n;
        unsigned int cp;
        if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
        else return 0;
        if (end - p <= n)
            return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;                 /* overlong, out of range, surrogate */
        p += n + 1;
    }
    return 1;
}

typedef struct {
    const char *s;
    size_t len;
} word_t;

static int
split_words(const char *s, size_t len, word_t *w, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        w[n].s = s + start;
        w[n].len = i - start;
        n++;
    }
    return n;
}

static int
word_is(const word_t *w, const char *lit)
{
    size_t n = strlen(lit);
    return w->len == n && memcmp(w->s, lit, n) == 0;
}

static int
copy_word(char *dst, size_t cap, const word_t *w)
{
    if (w->len >= cap || memchr(w->s, '\0', w->len) != NULL)
        return -1;
    memcpy(dst, w->s, w->len);
    dst[w->len] = '\0';
    return 0;
}

/* The master name an instance event is about: "master <name> <ip> <port>" or
 * "... @ <name> <ip> <port>". *addr: the index of <ip> (-1 if absent). */
static const word_t *
event_master(const word_t *w, int n, int *addr)
{
    *addr = -1;
    if (n >= 2 && word_is(&w[0], "master")) {
        if (n >= 4)
            *addr = 2;
        return &w[1];
    }
    for (int i = 0; i + 1 < n; i++) {
        if (word_is(&w[i], "@")) {
            if (i + 3 < n)
                *addr = i + 2;
            return &w[i + 1];
        }
    }
    return NULL;
}

/* host and port words into ev, or BAD_ADDRESS with the reason. */
static sf_event_action
take_address(sf_sentinel_event *ev, sf_event_action action, const word_t *host,
             const word_t *port)
{
    if (!sf_valid_host(host->s, host->len)) {
        snprintf(ev->why, sizeof ev->why, "invalid host (%zu bytes, not UTF-8 or not a name)",
                 host->len);
        return ev->action = SF_EVENT_BAD_ADDRESS;
    }
    if (sf_parse_port(port->s, port->len, &ev->port) < 0) {
        snprintf(ev->why, sizeof ev->why, "invalid port '%.*s'",
                 (int)(port->len > 24 ? 24 : port->len), port->s);
        return ev->action = SF_EVENT_BAD_ADDRESS;
    }
    memcpy(ev->host, host->s, host->len);
    ev->host[host->len] = '\0';
    return ev->action = action;
}

static int
channel_is(const char *channel, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(channel, lit, n) == 0;
}

static int
channel_starts(const char *channel, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(channel, prefix, n) == 0;
}

sf_event_action
sf_parse_sentinel_event(const char *channel, size_t channel_len, const char *payload, size_t len,
                        sf_sentinel_event *ev)
{
    memset(ev, 0, sizeof *ev);
    word_t w[MAX_WORDS];
    int n = split_words(payload, len, w, MAX_WORDS);

    if (channel_is(channel, channel_len, "+switch-master")) {
        /* "<name> <old-ip> <old-port> <new-ip> <new-port>" */
        if (n < 5 || copy_word(ev->service, sizeof ev->service, &w[0]) < 0)
            return ev->action = SF_EVENT_IGNORED;
        return take_address(ev, SF_EVENT_SWITCH_MASTER, &w[3], &w[4]);
    }
    int addr;
    const word_t *name = event_master(w, n, &addr);
    if (name == NULL || copy_word(ev->service, sizeof ev->service, name) < 0)
        return ev->action = SF_EVENT_IGNORED;
    if (addr >= 0 && sf_valid_host(w[addr].s, w[addr].len)
        && sf_parse_port(w[addr + 1].s, w[addr + 1].len, &ev->master_port) == 0) {
        memcpy(ev->master_host, w[addr].s, w[addr].len);
        ev->master_host[w[addr].len] = '\0';
        ev->has_master = 1;
    }

    if (channel_is(channel, channel_len, "+failover-state-reconf-slaves"))
        return ev->action = SF_EVENT_IGNORED;   /* the new master is already promoted */
    int about_replica = n >= 4 && word_is(&w[0], "slave");
    if (channel_is(channel, channel_len, "+promoted-slave")) {
        /* "slave <ip:port> <ip> <port> @ <name> <master-ip> <master-port>" */
        if (!about_replica)
            return ev->action = SF_EVENT_IGNORED;
        return take_address(ev, SF_EVENT_PROMOTED, &w[2], &w[3]);
    }
    if (channel_is(channel, channel_len, "+try-failover")
        || channel_is(channel, channel_len, "+elected-leader")
        || channel_is(channel, channel_len, "+failover-state-wait-start")
        || channel_is(channel, channel_len, "+failover-state-select-slave"))
        return ev->action = SF_EVENT_FAILOVER_ELECTION;
    if (channel_starts(channel, channel_len, "+failover-state-")
        || channel_is(channel, channel_len, "+selected-slave")) {
        /* the replica being promoted, when the event names it (the hold starts anyway) */
        if (about_replica && take_address(ev, SF_EVENT_FAILOVER_BEGIN, &w[2], &w[3])
                                 == SF_EVENT_FAILOVER_BEGIN) {
            ev->has_instance = 1;
        }
        else {
            ev->host[0] = '\0';
            ev->port = 0;
            ev->why[0] = '\0';
        }
        return ev->action = SF_EVENT_FAILOVER_BEGIN;
    }
    if (channel_is(channel, channel_len, "+odown"))
        return ev->action = SF_EVENT_MASTER_DOWN;
    if (channel_is(channel, channel_len, "-odown"))
        return ev->action = SF_EVENT_MASTER_UP;
    if (channel_starts(channel, channel_len, "-failover-abort")
        || channel_is(channel, channel_len, "+failover-end-for-timeout"))
        return ev->action = SF_EVENT_FAILOVER_ABORT;
    if (channel_is(channel, channel_len, "+sentinel")) {
        /* "sentinel <runid> <ip> <port> @ <master> <ip> <port>" */
        if (n < 4)
            return ev->action = SF_EVENT_IGNORED;
        return take_address(ev, SF_EVENT_SENTINEL_ADDED, &w[2], &w[3]);
    }
    if (channel_is(channel, channel_len, "+convert-to-slave")
        || channel_is(channel, channel_len, "+failover-end"))
        return ev->action = SF_EVENT_NOTICE;
    return ev->action = SF_EVENT_IGNORED;
}

/* The value of `key` in a flat field/value array, or NULL. */
static const redisReply *
pair(const redisReply *r, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
            && (size_t)k->len == klen && memcmp(k->str, key, klen) == 0)
            return v;
    }
    return NULL;
}

static int
parse_ll(const redisReply *v, long long lo, long long hi, long long *out)
{
    char buf[32];
    if (v == NULL || v->len == 0 || (size_t)v->len >= sizeof buf)
        return -1;
    memcpy(buf, v->str, (size_t)v->len);
    buf[v->len] = '\0';
    errno = 0;
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int
address_of(const redisReply *r, char *host, size_t hostcap, int *port, char *why, size_t whycap)
{
    const redisReply *ip = pair(r, "ip"), *p = pair(r, "port");
    if (ip == NULL || p == NULL) {
        snprintf(why, whycap, "no ip/port");
        return 0;
    }
    if (!sf_valid_host(ip->str, (size_t)ip->len) || (size_t)ip->len >= hostcap) {
        snprintf(why, whycap, "invalid host (%zu bytes, not UTF-8 or not a name)", (size_t)ip->len);
        return 0;
    }
    if (sf_parse_port(p->str, (size_t)p->len, port) < 0) {
        snprintf(why, whycap, "invalid port '%.*s'", (int)(p->len > 24 ? 24 : p->len), p->str);
        return 0;
    }
    memcpy(host, ip->str, (size_t)ip->len);
    host[ip->len] = '\0';
    return 1;
}

int
sf_parse_master_reply(const redisReply *r, sf_master_report *out)
{
    memset(out, 0, sizeof *out);
    out->config_epoch = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return -1;
    const redisReply *flags = pair(r, "flags");
    if (flags != NULL) {
        const char *f = flags->str;
        size_t fl = (size_t)flags->len;
        out->is_master = sf_has_flag(f, fl, "master");
        out->s_down = sf_has_flag(f, fl, "s_down");
        out->o_down = sf_has_flag(f, fl, "o_down");
        out->failover_in_progress = sf_has_flag(f, fl, "failover_in_progress");
    }
    long long v;
    if (parse_ll(pair(r, "config-epoch"), 0, 0x7fffffffffffffffLL, &v) == 0)
        out->config_epoch = v;
    if (parse_ll(pair(r, "down-after-milliseconds"), 1, 0x7fffffffL, &v) == 0)
        out->down_after_ms = (long)v;
    if (pair(r, "ip") != NULL || pair(r, "port") != NULL)
        out->has_address = address_of(r, out->host, sizeof out->host, &out->port, out->why,
                                      sizeof out->why);
    return 0;
}

int
sf_parse_sentinel_entry(const redisReply *entry, char *host, size_t hostcap, int *port,
                        char *why, size_t whycap)
{
    if (entry == NULL || entry->type != REDIS_REPLY_ARRAY || entry->elements % 2 != 0)
        return -1;
    why[0] = '\0';
    return address_of(entry, host, hostcap, port, why, whycap);
}
