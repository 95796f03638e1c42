/* The web console's static files (web/: the page, its script and styles, vendored xterm.js),
 * served by xenod at `/` and `/web/...` from one directory (docs/web.md). Nothing there is
 * secret: the files are served without a token; every API call the page makes carries one. */
#ifndef XENO_DAEMON_WEB_STATIC_H
#define XENO_DAEMON_WEB_STATIC_H

#include <microhttpd.h>

/* The longest path under the directory that is served, and how deep it may go. */
#define WEB_PATH_MAX 128
#define WEB_DEPTH_MAX 4

struct web_static;

/* Opens `dir` (absolute) once; the files are opened under it per request. 0 or -errno with
 * err_set(). */
int web_static_open(struct web_static **out, const char *dir);
void web_static_close(struct web_static *w);

/* Whether `url` is the web console's ("/", "/index.html" or "/web/..."), not the API's. */
int web_static_claims(const char *url);

/* The file under the directory that `url` names (web_static_claims(url) true), as its relative
 * path in out[WEB_PATH_MAX]: 0, or -ENOENT when the name is not one this serves (a segment
 * that is empty or starts with '.', a character outside [A-Za-z0-9._-], deeper than
 * WEB_DEPTH_MAX, too long, a type not in the fixed list). Pure (tests/unit/test_daemon_web_static.c). */
int web_static_path(const char *url, char out[WEB_PATH_MAX]);

/* The fixed Content-Type of a served path's extension, or NULL for one not served. */
const char *web_static_type(const char *path);

/* Answers a GET or HEAD for `url` (405 for another method): the file, opened without following
 * a link at any step, with the security headers (Content-Security-Policy and the rest; see
 * docs/web.md), or 404. Thread-safe (any of the listeners' threads). */
enum MHD_Result web_static_serve(const struct web_static *w, struct MHD_Connection *c, const char *method,
                                 const char *url);

#endif
