#include "ctl/url.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int ctl_url_escape(const char *text, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    int dots_only = strcmp(text, ".") == 0 || strcmp(text, "..") == 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (unreserved(*p) && !dots_only) {
            if (n + 1 >= out_size)
                return err_set(ENAMETOOLONG, "'%.40s...' is too long", text);
            out[n++] = (char)*p;
        } else {
            if (n + 3 >= out_size)
                return err_set(ENAMETOOLONG, "'%.40s...' is too long", text);
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n >= out_size)
        return err_set(ENAMETOOLONG, "'%.40s...' is too long", text);
    out[n] = '\0';
    return (int)n;
}
