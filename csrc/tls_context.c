/* TLSContext: redis-py's ssl_* settings and the SSL_CTX made from them (tls_context.h).
 *
 * The settings are fixed when the object is made (tp_new; no __init__), so the build
 * runs without the GIL and without a lock: two threads that dial at once may both
 * build, the first to publish wins and the other frees its copy.
 *
 * redis-py reads the certificate files at every connect, so a certificate renewed on
 * disk is used by the next connection. Here each build records what the files were
 * (stat: device, inode, size, mtime) and a connect that finds them changed builds
 * again. A replaced SSL_CTX is kept until the TLSContext dies: a connect in another
 * thread may still be using it (sf_tls_context_ctx lends it), and renewals are rare. */
#include "tls_context.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* ssl.TLSVersion.MINIMUM_SUPPORTED / MAXIMUM_SUPPORTED */
#define PY_TLS_MINIMUM_SUPPORTED (-2)
#define PY_TLS_MAXIMUM_SUPPORTED (-1)

typedef struct {
    PyObject_HEAD
    char *certfile;          /* malloc'd C strings, NULL when not given */
    char *keyfile;
    char *ca_certs;
    char *ca_path;
    char *ciphers;
    char *password;
    size_t password_len;
    unsigned char *ca_data;
    size_t ca_data_len;
    int ca_data_pem;         /* PEM text (str, or bytes that look like PEM), else DER */
    int cert_reqs;           /* 0 none, 1 optional, 2 required (ssl.CERT_*) */
    int check_hostname;      /* as given; effective only when cert_reqs != 0 */
    int has_min_version;
    int min_version;         /* an ssl.TLSVersion value */
    unsigned long verify_flags_on;
    unsigned long verify_flags_off;
    struct tls_build *current;   /* the latest build, or NULL; published atomically */
    struct tls_build *retired;   /* builds replaced after a renewal (a lock-free stack) */
} sf_tls_context;

/* What a file was when a build read it (all zero: absent). */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_stamp;

enum { STAMP_CERTFILE, STAMP_KEYFILE, STAMP_CA_CERTS, N_STAMPS };

/* One SSL_CTX and the files it was made from. */
struct tls_build {
    SSL_CTX *ctx;
    file_stamp stamps[N_STAMPS];
    struct tls_build *next;      /* in `retired` */
};

int
sf_tls_context_check(sf_state *st, PyObject *obj)
{
    return st->TLSContextType != NULL && PyObject_TypeCheck(obj, st->TLSContextType);
}

/* ---------------------------------------------------------------- building */

typedef enum { BUILD_OK, BUILD_CONNECT, BUILD_VALUE, BUILD_NOMEM } build_kind;

typedef struct {
    build_kind kind;
    int num;                 /* errno, or 1 for an OpenSSL failure */
    char msg[256];
} build_error;

static void
fail_errno(build_error *be, int err, const char *path)
{
    be->kind = BUILD_CONNECT;
    be->num = err;
    snprintf(be->msg, sizeof be->msg, "%s: '%s'", strerror(err), path);
}

static void
fail_ssl(build_error *be, const char *what)
{
    unsigned long code = ERR_peek_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    be->kind = BUILD_CONNECT;
    be->num = 1;
    snprintf(be->msg, sizeof be->msg, "[SSL] %s%s%s", what, reason ? ": " : "",
             reason ? reason : "");
}

/* A file that must be readable: the errno redis-py would report if it is not. */
static int
readable(const char *path, build_error *be)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_errno(be, errno, path);
        return 0;
    }
    fclose(f);
    return 1;
}

/* Gives OpenSSL the key's password; never prompts on a terminal. */
static int
password_cb(char *buf, int size, int rwflag, void *userdata)
{
    const sf_tls_context *c = userdata;
    if (c == NULL || c->password == NULL || size <= 0)
        return 0;
    size_t n = c->password_len < (size_t)size ? c->password_len : (size_t)size;
    memcpy(buf, c->password, n);
    return (int)n;
}

static int
load_ca_data(const sf_tls_context *c, SSL_CTX *ctx, build_error *be)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    if (c->ca_data_pem) {
        BIO *bio = BIO_new_mem_buf(c->ca_data, (int)c->ca_data_len);
        if (bio == NULL) {
            be->kind = BUILD_NOMEM;
            return 0;
        }
        X509 *x;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            int ok = X509_STORE_add_cert(store, x);
            X509_free(x);
            if (!ok) {
                BIO_free(bio);
                fail_ssl(be, "cannot add a certificate of ssl_ca_data");
                return 0;
            }
            count++;
        }
        BIO_free(bio);
    }
    else {
        const unsigned char *p = c->ca_data, *end = c->ca_data + c->ca_data_len;
        while (p < end) {
            X509 *x = d2i_X509(NULL, &p, (long)(end - p));
            if (x == NULL) {
                fail_ssl(be, "ssl_ca_data is not DER certificates");
                return 0;
            }
            int ok = X509_STORE_add_cert(store, x);
            X509_free(x);
            if (!ok) {
                fail_ssl(be, "cannot add a certificate of ssl_ca_data");
                return 0;
            }
            count++;
        }
    }
    ERR_clear_error();    /* the PEM loop ends on a "no start line" error */
    if (count == 0) {
        be->kind = BUILD_CONNECT;
        be->num = 1;
        snprintf(be->msg, sizeof be->msg, "[X509] no certificate found in ssl_ca_data");
        return 0;
    }
    return 1;
}

static SSL_CTX *
build_ctx(sf_tls_context *c, build_error *be)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        fail_ssl(be, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, c);

    int min = TLS1_2_VERSION;       /* Python's default context allows TLS 1.2 and up */
    if (c->has_min_version) {
        if (c->min_version == PY_TLS_MINIMUM_SUPPORTED)
            min = 0;
        else if (c->min_version == PY_TLS_MAXIMUM_SUPPORTED)
            min = TLS1_3_VERSION;
        else if (c->min_version >= SSL3_VERSION && c->min_version <= TLS1_3_VERSION)
            min = c->min_version;
        else {
            be->kind = BUILD_VALUE;
            snprintf(be->msg, sizeof be->msg, "Unsupported TLS/SSL version 0x%x",
                     (unsigned)c->min_version);
            goto fail;
        }
    }
    if (!SSL_CTX_set_min_proto_version(ctx, min)) {
        be->kind = BUILD_VALUE;
        snprintf(be->msg, sizeof be->msg, "Unsupported TLS/SSL version 0x%x", (unsigned)min);
        goto fail;
    }

    SSL_CTX_set_verify(ctx, c->cert_reqs == 0 ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
    if (c->verify_flags_on)
        X509_VERIFY_PARAM_set_flags(vp, c->verify_flags_on);
    if (c->verify_flags_off)
        X509_VERIFY_PARAM_clear_flags(vp, c->verify_flags_off);

    /* Like ssl.create_default_context(): the system's CAs, then the ones given. */
    (void)SSL_CTX_set_default_verify_paths(ctx);
    ERR_clear_error();

    if (c->certfile != NULL) {
        const char *keyfile = c->keyfile != NULL ? c->keyfile : c->certfile;
        if (!readable(c->certfile, be) || !readable(keyfile, be))
            goto fail;
        if (SSL_CTX_use_certificate_chain_file(ctx, c->certfile) != 1) {
            fail_ssl(be, "cannot load ssl_certfile");
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
            fail_ssl(be, "cannot load the private key (wrong ssl_password?)");
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            fail_ssl(be, "the private key does not match ssl_certfile");
            goto fail;
        }
    }
    if (c->ca_certs != NULL || c->ca_path != NULL) {
        if (c->ca_certs != NULL && !readable(c->ca_certs, be))
            goto fail;
        if (SSL_CTX_load_verify_locations(ctx, c->ca_certs, c->ca_path) != 1) {
            fail_ssl(be, "cannot load the CA certificates");
            goto fail;
        }
    }
    if (c->ca_data != NULL && !load_ca_data(c, ctx, be))
        goto fail;
    if (c->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, c->ciphers) != 1) {
        fail_ssl(be, "No cipher can be selected");
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);   /* keys are loaded */
    ERR_clear_error();
    return ctx;

fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

static void
raise_build_error(sf_state *st, const build_error *be, const char *where)
{
    switch (be->kind) {
    case BUILD_NOMEM:
        PyErr_NoMemory();
        break;
    case BUILD_VALUE:
        PyErr_SetString(PyExc_ValueError, be->msg);
        break;
    default:
        if (where != NULL)
            PyErr_Format(st->ConnectionError, "Error %d connecting to %s. %s.", be->num, where,
                         be->msg);
        else
            PyErr_Format(st->ConnectionError, "Error %d loading TLS settings. %s.", be->num,
                         be->msg);
        break;
    }
}

static void
take_stamp(const char *path, file_stamp *out)
{
    struct stat sb;
    memset(out, 0, sizeof *out);
    if (path != NULL && stat(path, &sb) == 0) {
        out->dev = sb.st_dev;
        out->ino = sb.st_ino;
        out->size = sb.st_size;
        out->mtime = sb.st_mtim;
    }
}

static void
take_stamps(const sf_tls_context *c, file_stamp stamps[N_STAMPS])
{
    take_stamp(c->certfile, &stamps[STAMP_CERTFILE]);
    take_stamp(c->keyfile, &stamps[STAMP_KEYFILE]);
    take_stamp(c->ca_certs, &stamps[STAMP_CA_CERTS]);
}

static int
same_stamps(const file_stamp *a, const file_stamp *b)
{
    for (int i = 0; i < N_STAMPS; i++) {
        if (a[i].dev != b[i].dev || a[i].ino != b[i].ino || a[i].size != b[i].size
            || a[i].mtime.tv_sec != b[i].mtime.tv_sec || a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return 0;
    }
    return 1;
}

static int
has_files(const sf_tls_context *c)
{
    return c->certfile != NULL || c->keyfile != NULL || c->ca_certs != NULL;
}

static void
retire(sf_tls_context *c, struct tls_build *b)
{
    struct tls_build *head = __atomic_load_n(&c->retired, __ATOMIC_ACQUIRE);
    do {
        b->next = head;
    } while (!__atomic_compare_exchange_n(&c->retired, &head, b, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
}

static void
free_build(struct tls_build *b)
{
    SSL_CTX_free(b->ctx);
    free(b);
}

/* A new build of `c`, stamped with the files it read; NULL with *be filled. */
static struct tls_build *
new_build(sf_tls_context *c, build_error *be)
{
    struct tls_build *b = calloc(1, sizeof *b);
    if (b == NULL) {
        be->kind = BUILD_NOMEM;
        return NULL;
    }
    take_stamps(c, b->stamps);     /* before reading: a change during the build is seen next time */
    b->ctx = build_ctx(c, be);
    if (b->ctx == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

SSL_CTX *
sf_tls_context_ctx(PyObject *obj, const char *where)
{
    sf_tls_context *c = (sf_tls_context *)obj;
    struct tls_build *cur = __atomic_load_n(&c->current, __ATOMIC_ACQUIRE);
    build_error be = {BUILD_OK, 0, ""};
    struct tls_build *built = NULL;
    int fresh = 1;
    Py_BEGIN_ALLOW_THREADS
    if (cur != NULL && has_files(c)) {
        file_stamp now[N_STAMPS];
        take_stamps(c, now);
        fresh = same_stamps(now, cur->stamps);
    }
    if (cur == NULL || !fresh)
        built = new_build(c, &be);
    Py_END_ALLOW_THREADS
    if (cur != NULL && fresh)
        return cur->ctx;
    if (built == NULL) {
        sf_state *st = sf_state_from_type(Py_TYPE(obj));
        if (st != NULL)
            raise_build_error(st, &be, where);
        return NULL;
    }
    struct tls_build *expected = cur;
    if (!__atomic_compare_exchange_n(&c->current, &expected, built, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free_build(built);       /* another thread published first: use its build */
        return expected->ctx;
    }
    if (cur != NULL)
        retire(c, cur);          /* a connect elsewhere may still hold cur->ctx */
    return built->ctx;
}

int
sf_tls_context_check_hostname(PyObject *obj)
{
    const sf_tls_context *c = (const sf_tls_context *)obj;
    return c->check_hostname && c->cert_reqs != 0;
}

/* ---------------------------------------------------------------- Python type */

/* str / bytes / os.PathLike / None -> a malloc'd C string (NULL for None). */
static int
path_arg(PyObject *obj, const char *name, char **out)
{
    *out = NULL;
    if (obj == NULL || obj == Py_None)
        return 0;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(obj, &bytes)) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be a path (str, bytes, os.PathLike) or None",
                         name);
        }
        return -1;
    }
    *out = strdup(PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* str (UTF-8) or bytes -> malloc'd copy. */
static int
data_arg(PyObject *obj, const char *name, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (obj == NULL || obj == Py_None)
        return 0;
    const char *p;
    Py_ssize_t n;
    if (PyUnicode_Check(obj)) {
        p = PyUnicode_AsUTF8AndSize(obj, &n);
        if (p == NULL)
            return -1;
    }
    else if (PyBytes_Check(obj) || PyByteArray_Check(obj)) {
        p = PyBytes_Check(obj) ? PyBytes_AS_STRING(obj) : PyByteArray_AS_STRING(obj);
        n = PyBytes_Check(obj) ? PyBytes_GET_SIZE(obj) : PyByteArray_GET_SIZE(obj);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = malloc((size_t)n + 1);
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
    return 0;
}

static int
cert_reqs_arg(sf_state *st, PyObject *obj, int *out)
{
    if (obj == NULL) {
        *out = 2;
        return 0;
    }
    if (obj == Py_None) {
        *out = 0;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        const char *s = PyUnicode_AsUTF8(obj);
        if (s == NULL)
            return -1;
        if (strcmp(s, "none") == 0)
            *out = 0;
        else if (strcmp(s, "optional") == 0)
            *out = 1;
        else if (strcmp(s, "required") == 0)
            *out = 2;
        else {
            PyErr_Format(st->RedisError, "Invalid SSL Certificate Requirements Flag: %s", s);
            return -1;
        }
        return 0;
    }
    if (PyLong_Check(obj)) {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (v < 0 || v > 2) {
            PyErr_SetString(PyExc_ValueError, "invalid value for verify_mode");
            return -1;
        }
        *out = (int)v;
        return 0;
    }
    PyErr_Format(st->RedisError, "Invalid SSL Certificate Requirements Flag: %R", obj);
    return -1;
}

/* None or an iterable of ssl.VerifyFlags (whose values are OpenSSL's X509_V_FLAG_*). */
static int
flags_arg(PyObject *obj, const char *name, unsigned long *out)
{
    *out = 0;
    if (obj == NULL || obj == Py_None)
        return 0;
    PyObject *it = PyObject_GetIter(obj);
    if (it == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of ssl.VerifyFlags", name);
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        long v = PyLong_AsLong(item);
        Py_DECREF(item);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(it);
            return -1;
        }
        if (v < 0) {
            Py_DECREF(it);
            PyErr_Format(PyExc_ValueError, "invalid verify flag in %s", name);
            return -1;
        }
        *out |= (unsigned long)v;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static void
tls_free_fields(sf_tls_context *c)
{
    free(c->certfile);
    free(c->keyfile);
    free(c->ca_certs);
    free(c->ca_path);
    free(c->ciphers);
    if (c->password != NULL) {
        OPENSSL_cleanse(c->password, c->password_len);
        free(c->password);
    }
    free(c->ca_data);
    c->certfile = c->keyfile = c->ca_certs = c->ca_path = c->ciphers = c->password = NULL;
    c->ca_data = NULL;
    if (c->current != NULL) {
        free_build(c->current);
        c->current = NULL;
    }
    while (c->retired != NULL) {
        struct tls_build *next = c->retired->next;
        free_build(c->retired);
        c->retired = next;
    }
}

static PyObject *
tls_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"certfile", "keyfile", "password", "cert_reqs", "ca_certs",
                             "ca_path", "ca_data", "check_hostname", "min_version", "ciphers",
                             "include_verify_flags", "exclude_verify_flags", NULL};
    PyObject *certfile = NULL, *keyfile = NULL, *password = NULL, *cert_reqs = NULL;
    PyObject *ca_certs = NULL, *ca_path = NULL, *ca_data = NULL, *min_version = NULL;
    PyObject *ciphers = NULL, *include = NULL, *exclude = NULL;
    int check_hostname = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOOOOOpOOOO:TLSContext", kwlist,
                                     &certfile, &keyfile, &password, &cert_reqs, &ca_certs,
                                     &ca_path, &ca_data, &check_hostname, &min_version,
                                     &ciphers, &include, &exclude))
        return NULL;
    sf_state *st = sf_state_from_type(type);
    if (st == NULL)
        return NULL;
    sf_tls_context *c = (sf_tls_context *)type->tp_alloc(type, 0);
    if (c == NULL)
        return NULL;
    c->check_hostname = check_hostname;
    size_t unused_len;
    char *cipher_str = NULL, *ca = NULL;
    if (path_arg(certfile, "ssl_certfile", &c->certfile) < 0
        || path_arg(keyfile, "ssl_keyfile", &c->keyfile) < 0
        || path_arg(ca_certs, "ssl_ca_certs", &c->ca_certs) < 0
        || path_arg(ca_path, "ssl_ca_path", &c->ca_path) < 0
        || data_arg(ciphers, "ssl_ciphers", &cipher_str, &unused_len) < 0
        || data_arg(ca_data, "ssl_ca_data", &ca, &c->ca_data_len) < 0
        || cert_reqs_arg(st, cert_reqs, &c->cert_reqs) < 0
        || flags_arg(include, "ssl_include_verify_flags", &c->verify_flags_on) < 0
        || flags_arg(exclude, "ssl_exclude_verify_flags", &c->verify_flags_off) < 0)
        goto fail;
    c->ciphers = cipher_str;
    c->ca_data = (unsigned char *)ca;
    if (ca != NULL) {
        /* str is PEM text; bytes are DER, as in ssl.load_verify_locations(cadata=), or
         * PEM when they read like it */
        c->ca_data_pem = PyUnicode_Check(ca_data) || strstr(ca, "-----BEGIN") != NULL;
    }
    if (password != NULL && password != Py_None) {
        if (PyCallable_Check(password)) {
            PyErr_SetString(PyExc_TypeError,
                            "ssl_password must be str or bytes (a callable is not supported)");
            goto fail;
        }
        if (data_arg(password, "ssl_password", &c->password, &c->password_len) < 0)
            goto fail;
    }
    if (c->keyfile != NULL && c->certfile == NULL) {
        PyErr_SetString(PyExc_TypeError, "ssl_keyfile needs ssl_certfile");
        goto fail;
    }
    if (min_version != NULL && min_version != Py_None) {
        long v = PyLong_AsLong(min_version);
        if (v == -1 && PyErr_Occurred())
            goto fail;
        if (v < -2 || v > 0xffff) {
            PyErr_Format(PyExc_ValueError, "Unsupported TLS/SSL version 0x%lx", v);
            goto fail;
        }
        c->has_min_version = 1;
        c->min_version = (int)v;
    }
    return (PyObject *)c;

fail:
    Py_DECREF(c);
    return NULL;
}

static void
tls_dealloc(sf_tls_context *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tls_free_fields(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
tls_load(PyObject *self, PyObject *unused)
{
    if (sf_tls_context_ctx(self, NULL) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
get_check_hostname(PyObject *self, void *unused)
{
    return PyBool_FromLong(sf_tls_context_check_hostname(self));
}

static PyObject *
get_cert_reqs(PyObject *self, void *unused)
{
    return PyLong_FromLong(((sf_tls_context *)self)->cert_reqs);
}

static PyObject *
get_loaded(PyObject *self, void *unused)
{
    return PyBool_FromLong(__atomic_load_n(&((sf_tls_context *)self)->current, __ATOMIC_ACQUIRE)
                           != NULL);
}

static PyObject *
tls_repr(PyObject *self)
{
    const sf_tls_context *c = (const sf_tls_context *)self;
    static const char *reqs[] = {"none", "optional", "required"};
    return PyUnicode_FromFormat("<%s cert_reqs=%s check_hostname=%s ca_certs=%s certfile=%s>",
                                Py_TYPE(self)->tp_name, reqs[c->cert_reqs],
                                sf_tls_context_check_hostname(self) ? "True" : "False",
                                c->ca_certs ? c->ca_certs : "None",
                                c->certfile ? c->certfile : "None");
}

static PyMethodDef tls_methods[] = {
    {"load", tls_load, METH_NOARGS,
     "Build the OpenSSL context now (it is otherwise built at the first connect); "
     "raises what that connect would."},
    {NULL},
};

static PyGetSetDef tls_getset[] = {
    {"check_hostname", get_check_hostname, NULL,
     "Whether the certificate must name the host (False when cert_reqs is none).", NULL},
    {"cert_reqs", get_cert_reqs, NULL, "ssl.CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED.", NULL},
    {"loaded", get_loaded, NULL, "Whether the OpenSSL context has been built.", NULL},
    {NULL},
};

static PyType_Slot tls_slots[] = {
    {Py_tp_doc,
     "TLSContext(*, certfile=None, keyfile=None, password=None, cert_reqs='required', "
     "ca_certs=None, ca_path=None, ca_data=None, check_hostname=True, min_version=None, "
     "ciphers=None, include_verify_flags=None, exclude_verify_flags=None)\n--\n\n"
     "TLS settings with redis-py's meaning (its ssl_* keywords without the prefix), "
     "shared by the connections made with them. Files are read at the first connect."},
    {Py_tp_new, tls_new},
    {Py_tp_dealloc, tls_dealloc},
    {Py_tp_repr, tls_repr},
    {Py_tp_methods, tls_methods},
    {Py_tp_getset, tls_getset},
    {0, NULL},
};

PyType_Spec sf_tls_context_spec = {
    .name = "sentinelfast._core.TLSContext",
    .basicsize = sizeof(sf_tls_context),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = tls_slots,
};
