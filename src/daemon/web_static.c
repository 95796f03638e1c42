#include "daemon/web_static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

/* No file of the page is near this; a bigger one is not what the directory should hold. */
#define WEB_FILE_MAX (16 << 20)

/* No inline script or style, nothing from another origin, never framed (docs/web.md).
 * connect-src 'self' covers the API's fetch() and the console's wss:// (CSP level 3). */
#define WEB_CSP                                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "                    \
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct web_static {
    int dir_fd; /* O_PATH: the root every request's file is opened under */
};

int web_static_open(struct web_static **out, const char *dir)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "web console directory %s: %s", dir, strerror(errno));
    struct web_static *w = malloc(sizeof(*w));
    if (!w) {
        close(fd);
        return err_set(ENOMEM, "out of memory");
    }
    w->dir_fd = fd;
    *out = w;
    return 0;
}

void web_static_close(struct web_static *w)
{
    if (!w)
        return;
    close(w->dir_fd);
    free(w);
}

int web_static_claims(const char *url)
{
    return strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 || strncmp(url, "/web/", 5) == 0;
}

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *web_static_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static int name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
           ch == '-';
}

int web_static_path(const char *url, char out[WEB_PATH_MAX])
{
    const char *rel = strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 ? "index.html"
                      : strncmp(url, "/web/", 5) == 0                          ? url + 5
                                                                               : NULL;
    if (!rel || strlen(rel) >= WEB_PATH_MAX)
        return -ENOENT;
    int depth = 1;
    /* Each segment: not empty, not starting with '.' (no "..", no hidden files). */
    for (const char *p = rel; *p; p++) {
        int seg_start = p == rel || p[-1] == '/';
        if (*p == '/') {
            if (seg_start || !p[1] || ++depth > WEB_DEPTH_MAX)
                return -ENOENT;
        } else if (!name_char(*p) || (seg_start && *p == '.')) {
            return -ENOENT;
        }
    }
    if (!*rel || !web_static_type(rel))
        return -ENOENT;
    strcpy(out, rel);
    return 0;
}

/* Opens rel under dir_fd one segment at a time, never following a symbolic link (O_NOFOLLOW
 * at every step: a link anywhere in the directory is not served). fd or -errno. */
static int open_beneath(int dir_fd, const char *rel)
{
    char buf[WEB_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", rel);
    int fd = dir_fd;
    char *save = NULL;
    char *seg = strtok_r(buf, "/", &save);
    while (seg) {
        char *next = strtok_r(NULL, "/", &save);
        int flags = O_NOFOLLOW | O_CLOEXEC | (next ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK);
        int nfd = openat(fd, seg, flags);
        int e = errno;
        if (fd != dir_fd)
            close(fd);
        if (nfd < 0)
            return -e;
        fd = nfd;
        seg = next;
    }
    return fd;
}

static void add_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
}

static enum MHD_Result send_plain(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    add_headers(r, "text/plain; charset=utf-8");
    if (status == 405)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result res = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return res;
}

enum MHD_Result web_static_serve(const struct web_static *w, struct MHD_Connection *c, const char *method,
                                 const char *url)
{
    char rel[WEB_PATH_MAX];
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_plain(c, 405, "the web console's files take GET only\n");
    if (!w || web_static_path(url, rel) < 0)
        return send_plain(c, 404, "no such file of the web console\n");
    int fd = open_beneath(w->dir_fd, rel);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX)) {
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        return send_plain(c, 404, "no such file of the web console\n");
    /* The response owns fd once made (closed when it is destroyed). */
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    add_headers(r, web_static_type(rel));
    enum MHD_Result res = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return res;
}
