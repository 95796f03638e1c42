#include "ctl/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/err.h"

int ctl_server_parse(const char *url, char **out)
{
    static const char scheme[] = "https://";
    *out = NULL;
    if (strncmp(url, "http://", 7) == 0)
        return err_set(EINVAL, "--server %s: plain http is refused, the token would travel in clear (use https://)",
                       url);
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return err_set(EINVAL, "--server %s: give https://HOST:PORT", url);
    const char *host = url + sizeof(scheme) - 1;
    size_t n = strlen(host);
    if (n && host[n - 1] == '/')
        n--;
    if (n == 0 || n > 512)
        return err_set(EINVAL, "--server %s: give https://HOST:PORT", url);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("/?#@\\", ch))
            return err_set(EINVAL, "--server %s: give https://HOST:PORT only (no user, path or query)", url);
    }
    if (!(*out = malloc(sizeof(scheme) + n)))
        return err_set(ENOMEM, "out of memory");
    snprintf(*out, sizeof(scheme) + n, "%s%.*s", scheme, (int)n, host);
    return 0;
}

int ctl_token_parse(const char *text, size_t len, char **out)
{
    *out = NULL;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len == 0)
        return err_set(EINVAL, "the token is empty");
    if (len > CTL_TOKEN_MAX)
        return err_set(EINVAL, "the token is longer than %d characters: is it a token?", CTL_TOKEN_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f)
            return err_set(EINVAL, "the token holds a space or a character that is not printable ASCII");
    if (!(*out = strndup(text, len)))
        return err_set(ENOMEM, "out of memory");
    return 0;
}

int ctl_token_read_file(const char *path, char **out)
{
    char buf[CTL_TOKEN_MAX + 64];
    struct stat st;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_set(errno, "--token-file %s: %s", path, strerror(errno));
    /* The file opened is the one checked (no race between a stat and an open). */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(EINVAL, "--token-file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return err_set(EACCES,
                       "--token-file %s: permissions %04o are too open, others could read the token; "
                       "it is refused: chmod 600 %s",
                       path, (unsigned)(st.st_mode & 07777), path);
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        close(fd);
        return err_set(EACCES, "--token-file %s: owned by user %u, not by you: refused", path, (unsigned)st.st_uid);
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    int e = errno;
    close(fd);
    if (n < 0)
        return err_set(e, "--token-file %s: %s", path, strerror(e));
    int rc = ctl_token_parse(buf, (size_t)n, out);
    memset(buf, 0, sizeof(buf));
    return rc < 0 ? err_wrap(-rc, "--token-file %s", path) : 0;
}

/* $XENO_TOKEN, taken out of the environment: no child of xenctl inherits it. */
static int token_from_env(char **out)
{
    char *env = getenv("XENO_TOKEN");
    *out = NULL;
    if (!env || !*env)
        return 0;
    int rc = ctl_token_parse(env, strlen(env), out);
    memset(env, 0, strlen(env));
    unsetenv("XENO_TOKEN");
    return rc < 0 ? err_wrap(-rc, "XENO_TOKEN") : 0;
}

int ctl_target_setup(const struct ctl_args *a, struct ctl_api_target *t)
{
    char *token = NULL, *server = NULL;
    memset(t, 0, sizeof(*t));
    int rc = token_from_env(&token);
    const char *url = a->server;
    if (!url && getenv("XENO_SERVER") && *getenv("XENO_SERVER"))
        url = getenv("XENO_SERVER");
    if (rc == 0 && !url && (a->token_file || a->cacert))
        rc = err_set(EINVAL, "--token-file and --cacert go with --server https://HOST:PORT");
    if (rc == 0 && url && a->socket)
        rc = err_set(EINVAL, "give --socket or --server, not both");
    if (rc == 0 && url)
        rc = ctl_server_parse(url, &server);
    if (rc == 0 && a->token_file) {
        if (token)
            memset(token, 0, strlen(token));
        free(token);
        rc = ctl_token_read_file(a->token_file, &token);
    }
    if (rc == 0 && server && !token)
        rc = err_set(EINVAL, "--server needs a token: --token-file FILE or XENO_TOKEN (see `xenctl token create`)");
    if (rc < 0 || !server) {
        /* A token without a server is not used: the unix socket needs none. */
        if (token)
            memset(token, 0, strlen(token));
        free(token);
        free(server);
        if (rc < 0)
            return rc;
        t->socket = a->socket ? a->socket : getenv("XENOD_SOCKET");
        if (!t->socket || !*t->socket)
            t->socket = CTL_DEFAULT_SOCKET;
        return 0;
    }
    t->server = server;
    t->token = token;
    t->cacert = a->cacert;
    return 0;
}

void ctl_target_free(struct ctl_api_target *t)
{
    if (t->token)
        memset((char *)t->token, 0, strlen(t->token));
    if (t->server) {
        free((char *)t->token);
        free((char *)t->server);
    }
    memset(t, 0, sizeof(*t));
}
