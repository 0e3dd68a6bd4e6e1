/* TLSContext: the TLS settings of a set of connections (redis-py's ssl_* keywords) and
 * the OpenSSL SSL_CTX built from them.
 *
 * The SSL_CTX is built on first use, when a connection first dials (that is when
 * redis-py reads the files too, and when it reports their faults), and then shared
 * by every connection made with this context; a failed build is not kept, the next
 * connect tries again. A connect that finds ssl_certfile, ssl_keyfile or ssl_ca_certs
 * changed on disk (a renewed certificate) builds a new SSL_CTX, as redis-py reads the
 * files at every connect. */
#ifndef SF_TLS_CONTEXT_H
#define SF_TLS_CONTEXT_H

#include "sentinelfast.h"

#include <openssl/ssl.h>

extern PyType_Spec sf_tls_context_spec;

/* 1 if obj is a TLSContext (or a subclass). */
int sf_tls_context_check(sf_state *st, PyObject *obj);

/* The SSL_CTX of a TLSContext, built now if it was not yet or if its files changed
 * (three stat() calls per call when files are named: call it per connect, not per
 * command). Borrowed: valid while the TLSContext lives (SSL_new takes its own reference;
 * a holder that outlives the object calls SSL_CTX_up_ref). A holder that keeps the
 * pointer for later connects does not see renewed files: call again at each dial. NULL with an exception set: ConnectionError "Error N
 * connecting to <where>. <reason>." for a file or certificate that cannot be loaded
 * (`where` is "host:port"; NULL says "loading TLS settings" instead), ValueError for
 * an unusable setting. Call with the GIL held. */
SSL_CTX *sf_tls_context_ctx(PyObject *obj, const char *where);

/* Whether connections must check that the certificate names the host (False when
 * cert_reqs is "none", as in redis-py). */
int sf_tls_context_check_hostname(PyObject *obj);

#endif
