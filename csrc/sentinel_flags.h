/* Sentinel's "flags" field: a comma-separated list such as "master,s_down". */
#ifndef SF_SENTINEL_FLAGS_H
#define SF_SENTINEL_FLAGS_H

#include <string.h>

/* Does flags[0:len] contain `flag` as one of its comma-separated items? */
static inline int
sf_has_flag(const char *flags, size_t len, const char *flag)
{
    const char *s = flags, *end = flags + len;
    size_t n = strlen(flag);
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - s) == n && memcmp(s, flag, n) == 0)
            return 1;
        s = stop + 1;
    }
    return 0;
}

#endif
