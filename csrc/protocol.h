/* The protocol rules of a connection, with no I/O: which commands a new connection
 * sends (the handshake) and how their replies are judged, and what a reply to a
 * command means for the connection (an error to raise, a master that was demoted).
 *
 * The blocking connection (connection.c) drives these functions around its
 * transport; the asyncio client drives the same functions from Python through
 * `_core.Handshake` and `_core.classify_reply`, so each rule exists once. */
#ifndef SF_PROTOCOL_H
#define SF_PROTOCOL_H

#include "sentinelfast.h"
#include "resp_writer.h"

/* The steps of a handshake, in the order they are sent. */
typedef enum {
    SF_STEP_AUTH,
    SF_STEP_SETNAME,
    SF_STEP_SELECT,
    SF_STEP_ROLE,       /* master connections of a Sentinel service: is it still master? */
} sf_handshake_step;

#define SF_HANDSHAKE_MAX_STEPS 4

typedef struct {
    sf_handshake_step steps[SF_HANDSHAKE_MAX_STEPS];
    int count;
} sf_handshake;

/* What the handshake needs to know. `username`/`password` may be NULL or None
 * (no AUTH without a password); `client_name` None for no CLIENT SETNAME. */
typedef struct {
    PyObject *username;
    PyObject *password;
    PyObject *client_name;
    long db;
    int check_role;
} sf_handshake_params;

/* Append the handshake's commands to `out` (pipelined: one write, one round trip)
 * and record the steps in `hs`. 0, or -1 with an exception set. */
int sf_handshake_build(sf_state *st, const sf_handshake_params *p, const sf_encoder *enc,
                       sf_buf *out, sf_handshake *hs);

/* How the handshake went, from its replies (one per step, in order; error replies as
 * exception instances, as the reader makes them; read with decode off). */
typedef enum {
    SF_HANDSHAKE_OK = 0,
    SF_HANDSHAKE_FAILED,        /* *error: the exception to raise */
    SF_HANDSHAKE_NOT_MASTER,    /* ROLE said replica: *error is a ConnectionError */
} sf_handshake_result;

/* Judge the replies. Returns the result; for anything but OK, *error is a new
 * reference to the exception instance to raise (the first failure, as redis-py
 * reports it). -1 with an exception set if building that exception failed. */
int sf_handshake_check(sf_state *st, const sf_handshake *hs, PyObject *const *replies,
                       PyObject **error);

/* What a reply to an ordinary command means. */
typedef enum {
    SF_REPLY_VALUE = 0,         /* a value: return it */
    SF_REPLY_ERROR,             /* an error reply: raise it; the connection stays usable */
    SF_REPLY_DEMOTED,           /* READONLY on a Sentinel master connection: the master was
                                   demoted; forget its address, close, ConnectionError */
} sf_reply_kind;

sf_reply_kind sf_classify_reply(sf_state *st, PyObject *reply, int follows_master);

/* Counting the commands in RESP-encoded data someone else packed (redis-py's
 * send_packed_command), fed in pieces as it is sent, so that the connection knows how
 * many replies are owed. Only arrays of bulk strings count (what every encoder
 * writes); anything else marks the counter broken (the count is unknown). */
#define SF_COMMAND_NAME_MAX 16  /* longer first arguments name no command of interest */

typedef struct {
    int state;               /* 0: between commands; the rest: inside one */
    int broken;
    long long number;        /* the array or bulk length being read */
    long long bulks_left;    /* bulk strings left in the current command */
    long long skip;          /* payload bytes (and CRLF) left to skip */
    Py_ssize_t commands;     /* whole commands seen */
    /* the first argument (the command's name) of the command being read */
    int in_name;             /* the bulk being skipped is the name */
    long long name_total;    /* its declared length (-1 until its header is read) */
    size_t name_len;         /* bytes of it kept in `name` */
    char name[SF_COMMAND_NAME_MAX];
    /* what the whole commands seen mean for the connection (see sf_command_kind) */
    Py_ssize_t push_commands;  /* SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR */
} sf_command_counter;

#define SF_COMMAND_COUNTER_INIT {0}

void sf_count_commands(sf_command_counter *c, const char *data, size_t len);

/* What a command does to its connection's stream, from its name (any case). */
typedef enum {
    SF_COMMAND_ORDINARY = 0,  /* one reply per command */
    SF_COMMAND_PUSH,          /* SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR: from now on
                                 the server sends messages nobody asked for (push mode;
                                 even after RESET the connection is not as it was: RESET
                                 also logs out and selects db 0) */
} sf_command_kind_t;

sf_command_kind_t sf_command_kind(const char *name, size_t len);

extern PyType_Spec sf_handshake_spec;   /* _core.Handshake: the same rules for Python */
extern PyMethodDef sf_protocol_methods[];   /* _core.classify_reply */

#endif
