/* Byte-level checks of csrc/sentinel_events.c (no I/O, no Python), built and run by
 * tests/test_monitor.py::test_event_parser_unit. Prints one line per failed check and
 * exits 1 if any failed. */
#include <stdio.h>
#include <string.h>

#include "sentinel_events.h"

static int failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("FAILED line %d: %s\n", __LINE__, #cond);                     \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static sf_event_action
event(const char *channel, const char *payload, sf_sentinel_event *ev)
{
    return sf_parse_sentinel_event(channel, strlen(channel), payload, strlen(payload), ev);
}

/* A reply parsed by hiredis's reader from RESP bytes. */
static redisReply *
reply_of(const char *resp, size_t len)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    redisReaderFeed(r, resp, len);
    if (redisReaderGetReply(r, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(r);
    return reply;
}

static redisReply *
pairs(const char *const *kv, int n)
{
    static char buf[4096];
    size_t off = (size_t)snprintf(buf, sizeof buf, "*%d\r\n", n);
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "$%zu\r\n%s\r\n", strlen(kv[i]), kv[i]);
    return reply_of(buf, off);
}

int
main(void)
{
    sf_sentinel_event ev;
    int port;

    /* ports: decimal 1..65535 only, never wrapped */
    CHECK(sf_parse_port("6379", 4, &port) == 0 && port == 6379);
    CHECK(sf_parse_port("1", 1, &port) == 0 && port == 1);
    CHECK(sf_parse_port("65535", 5, &port) == 0 && port == 65535);
    CHECK(sf_parse_port("0", 1, &port) < 0);
    CHECK(sf_parse_port("-5", 2, &port) < 0);
    CHECK(sf_parse_port("96737", 5, &port) < 0);
    CHECK(sf_parse_port("65536", 5, &port) < 0);
    CHECK(sf_parse_port("99999999999999999999", 20, &port) < 0);
    CHECK(sf_parse_port("+80", 3, &port) < 0);
    CHECK(sf_parse_port("80x", 3, &port) < 0);
    CHECK(sf_parse_port("", 0, &port) < 0);

    /* hosts: UTF-8, no control characters */
    CHECK(sf_valid_host("127.0.0.1", 9));
    CHECK(sf_valid_host("::1", 3));
    CHECK(sf_valid_host("h\xc3\xa9te", 5));
    CHECK(!sf_valid_host("\xff\xfe", 2));
    CHECK(!sf_valid_host("a\xc3", 2));          /* truncated sequence */
    CHECK(!sf_valid_host("\xc0\xaf", 2));       /* overlong */
    CHECK(!sf_valid_host("\xed\xa0\x80", 3));   /* surrogate */
    CHECK(!sf_valid_host("a\nb", 3));
    CHECK(!sf_valid_host("", 0));

    /* +switch-master */
    CHECK(event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380", &ev)
          == SF_EVENT_SWITCH_MASTER);
    CHECK(strcmp(ev.service, "mymaster") == 0 && strcmp(ev.host, "127.0.0.1") == 0
          && ev.port == 6380);
    CHECK(event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 96737", &ev)
          == SF_EVENT_BAD_ADDRESS);
    CHECK(strstr(ev.why, "96737") != NULL);
    CHECK(event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 0", &ev)
          == SF_EVENT_BAD_ADDRESS);
    CHECK(event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 -5", &ev)
          == SF_EVENT_BAD_ADDRESS);
    CHECK(event("+switch-master", "mymaster 127.0.0.1 6379 \xff\xfe 6380", &ev)
          == SF_EVENT_BAD_ADDRESS);
    CHECK(event("+switch-master", "mymaster 127.0.0.1", &ev) == SF_EVENT_IGNORED);

    /* +sentinel */
    CHECK(event("+sentinel", "sentinel abc 127.0.0.1 26380 @ mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_SENTINEL_ADDED);
    CHECK(strcmp(ev.service, "mymaster") == 0 && ev.port == 26380);
    CHECK(event("+sentinel", "sentinel abc 127.0.0.1 0 @ mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_BAD_ADDRESS);

    /* failover steps, with the master they are about */
    CHECK(event("+try-failover", "master mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_ELECTION);
    CHECK(ev.has_master && ev.master_port == 6379);
    CHECK(event("+elected-leader", "master mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_ELECTION);
    CHECK(event("+failover-state-select-slave", "master mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_ELECTION);
    CHECK(event("+selected-slave", "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
                &ev) == SF_EVENT_FAILOVER_BEGIN);
    CHECK(ev.has_instance && strcmp(ev.host, "127.0.0.1") == 0 && ev.port == 6380);
    CHECK(ev.has_master && ev.master_port == 6379);
    CHECK(event("+failover-state-send-slaveof-noone",
                "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_BEGIN);
    CHECK(ev.has_instance && ev.port == 6380);
    /* a bad replica address: still a hold, no replica to probe */
    CHECK(event("+failover-state-wait-promotion",
                "slave 127.0.0.1:0 127.0.0.1 0 @ mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_BEGIN);
    CHECK(!ev.has_instance && ev.port == 0 && ev.why[0] == '\0');
    CHECK(event("+promoted-slave", "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
                &ev) == SF_EVENT_PROMOTED);
    CHECK(strcmp(ev.service, "mymaster") == 0 && ev.has_master && ev.master_port == 6379);
    CHECK(strcmp(ev.host, "127.0.0.1") == 0 && ev.port == 6380);
    CHECK(event("+promoted-slave", "slave 127.0.0.1:0 127.0.0.1 0 @ mymaster 127.0.0.1 6379",
                &ev) == SF_EVENT_BAD_ADDRESS);
    CHECK(event("+promoted-slave", "master mymaster 127.0.0.1 6379", &ev) == SF_EVENT_IGNORED);
    CHECK(event("+failover-state-reconf-slaves", "master mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_IGNORED);
    CHECK(event("-failover-abort-not-elected", "master mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_FAILOVER_ABORT);
    CHECK(event("+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2", &ev)
          == SF_EVENT_MASTER_DOWN);
    CHECK(event("-odown", "master mymaster 127.0.0.1 6379", &ev) == SF_EVENT_MASTER_UP);
    CHECK(event("+sdown", "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379", &ev)
          == SF_EVENT_IGNORED);
    CHECK(event("+try-failover", "", &ev) == SF_EVENT_IGNORED);

    /* SENTINEL MASTER */
    sf_master_report rep;
    const char *good[] = {"name", "mymaster", "ip", "127.0.0.1", "port", "6379", "flags",
                          "master,failover_in_progress", "config-epoch", "3",
                          "down-after-milliseconds", "1000"};
    redisReply *r = pairs(good, 12);
    CHECK(r != NULL && sf_parse_master_reply(r, &rep) == 0);
    CHECK(rep.has_address && rep.port == 6379 && rep.config_epoch == 3 && rep.is_master
          && rep.failover_in_progress && !rep.s_down && rep.down_after_ms == 1000);
    freeReplyObject(r);
    const char *bad_port[] = {"ip", "127.0.0.1", "port", "96737", "flags", "master",
                              "config-epoch", "x1"};
    r = pairs(bad_port, 8);
    CHECK(r != NULL && sf_parse_master_reply(r, &rep) == 0);
    CHECK(!rep.has_address && rep.why[0] != '\0' && rep.config_epoch == -1);
    freeReplyObject(r);
    r = reply_of("-ERR No such master with that name\r\n", 36);
    CHECK(r != NULL && sf_parse_master_reply(r, &rep) < 0);
    freeReplyObject(r);

    /* SENTINEL SENTINELS entries */
    char host[256], why[160];
    const char *entry[] = {"name", "x", "ip", "\xff\xfe", "port", "26379"};
    r = pairs(entry, 6);
    CHECK(sf_parse_sentinel_entry(r, host, sizeof host, &port, why, sizeof why) == 0);
    freeReplyObject(r);
    const char *entry_ok[] = {"ip", "127.0.0.1", "port", "26379"};
    r = pairs(entry_ok, 4);
    CHECK(sf_parse_sentinel_entry(r, host, sizeof host, &port, why, sizeof why) == 1
          && port == 26379 && strcmp(host, "127.0.0.1") == 0);
    freeReplyObject(r);

    if (failures == 0)
        printf("ok\n");
    return failures ? 1 : 0;
}
