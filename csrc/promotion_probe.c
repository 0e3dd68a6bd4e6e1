/* The promotion probe: see promotion_probe.h. */
#include "promotion_probe.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TAG_ROLE SF_LINK_TAG_USER
/* A lost link is connected again at once the first time: Sentinel promotes a replica
 * with MULTI, REPLICAOF NO ONE, CONFIG REWRITE, CLIENT KILL TYPE normal, EXEC, so the
 * probe's own connection is killed at the very moment the replica becomes a master.
 * After that, at this pace (a replica that refuses us). */
#define RECONNECT_DELAY 0.02

static double
reconnect_at(sf_probe *p, double now)
{
    return ++p->failures <= 1 ? now : now + RECONNECT_DELAY;
}

void
sf_probe_init(sf_probe *p)
{
    memset(p, 0, sizeof *p);
    sf_link_init(&p->link, 0);
}

void
sf_probe_stop(sf_probe *p)
{
    if (p->active)
        sf_link_close(&p->link);
    p->active = 0;
}

void
sf_probe_start(sf_probe *p, const char *host, int port, double give_up)
{
    if (p->active && p->port == port && strcmp(p->host, host) == 0) {
        if (give_up > p->give_up)
            p->give_up = give_up;
        return;
    }
    sf_probe_stop(p);
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    p->give_up = give_up;
    p->next_send = 0;
    p->next_connect = 0;
    p->failures = 0;
    p->active = 1;
}

double
sf_probe_prepare(sf_probe *p, double now, const sf_node_access *access, int wake_fd,
                 double until, struct pollfd *pfd, int *polled)
{
    *polled = 0;
    if (!p->active)
        return until;
    if (now >= p->give_up) {
        sf_probe_stop(p);
        return until;
    }
    if (p->link.state == SF_LINK_CLOSED) {
        if (now < p->next_connect)
            return p->next_connect < until ? p->next_connect : until;
        sf_link_target target = {
            .host = p->host,
            .port = p->port,
            .connect_timeout = access->timeout,
            .tls_ctx = access->tls_ctx,
            .server_hostname = access->server_hostname[0] ? access->server_hostname : NULL,
            .check_hostname = access->check_hostname,
        };
        if (sf_link_connect_start(&p->link, &target, access->timeout, wake_fd) < 0) {
            p->next_connect = reconnect_at(p, now);
            return p->next_connect < until ? p->next_connect : until;
        }
    }
    if (p->link.state == SF_LINK_READY && sf_link_pending(&p->link) == 0 && now >= p->next_send) {
        const char *argv[1] = {"ROLE"};
        if (sf_link_send(&p->link, TAG_ROLE, 0, 1, argv) < 0) {
            p->next_connect = reconnect_at(p, now);
            return until;
        }
        p->asked++;
    }
    if (sf_link_pollfd(&p->link, pfd))
        *polled = 1;
    double wake = p->give_up;
    if (p->link.deadline > 0 && p->link.deadline < wake)
        wake = p->link.deadline;
    if (p->link.state == SF_LINK_READY && sf_link_pending(&p->link) == 0 && p->next_send < wake)
        wake = p->next_send;
    return wake < until ? wake : until;
}

typedef struct {
    int replied;
    int master;
} reply_ctx;

static void
on_reply(void *arg, sf_link *l, int tag, int i, const redisReply *r)
{
    (void)l;
    (void)i;
    reply_ctx *c = arg;
    if (tag != TAG_ROLE)
        return;
    c->replied = 1;
    /* ROLE: ["master", offset, replicas] / ["slave", host, port, state, offset] */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1
        && r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 6
        && strncasecmp(r->element[0]->str, "master", 6) == 0)
        c->master = 1;
}

int
sf_probe_after_poll(sf_probe *p, short revents, double now, const sf_node_access *access)
{
    if (!p->active)
        return 0;
    sf_link *l = &p->link;
    if (l->state == SF_LINK_CONNECTING) {
        int rc = sf_link_connect_poll(l, access->has_username ? access->username : NULL,
                                      access->has_password ? access->password : NULL);
        if (rc < 0) {
            p->next_connect = reconnect_at(p, now);
            return 0;
        }
    }
    reply_ctx ctx = {0, 0};
    if (revents != 0) {
        int ready_now = 0;
        if (sf_link_io(l, revents, on_reply, &ctx, &ready_now) < 0) {
            p->next_connect = reconnect_at(p, now);      /* the link closed itself */
            return 0;
        }
    }
    if (ctx.master) {
        sf_probe_stop(p);
        return 1;
    }
    if (sf_link_check_deadline(l, now) < 0) {
        p->next_connect = reconnect_at(p, now);
        return 0;
    }
    if (ctx.replied) {
        p->failures = 0;
        p->next_send = now + SF_PROBE_INTERVAL;
    }
    return 0;
}

void
sf_probe_forget_after_fork(sf_probe *p)
{
    if (p->active)
        sf_link_forget_after_fork(&p->link);
    p->active = 0;
}
