/* Image names (lib/image_name.h). */
#include "lib/image_name.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"

int image_name_check(const char *name)
{
    size_t len = strnlen(name, IMAGE_NAME_MAX + 1);
    if (len == 0)
        return err_set(EINVAL, "image name is empty");
    if (len > IMAGE_NAME_MAX)
        return err_set(EINVAL, "image name '%.32s...' is longer than %d bytes", name, IMAGE_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        /* The name goes into logs, headers and messages: no control bytes, no escapes. */
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return err_set(EINVAL, "image name has a control, backslash or non-ASCII byte at %zu", i);
    }
    if (name[0] == '/')
        return err_set(EINVAL, "image '%s': an absolute path (names are relative to the image directory)", name);
    for (const char *p = name; *p;) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return err_set(EINVAL, "image '%s': empty, '.' or '..' component (names stay beneath the image directory)",
                           name);
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return err_set(EINVAL, "image '%s': ends with '/'", name);
    }
    return 0;
}
