/* Connecting to a unix stream socket by path: the one place that fills a sockaddr_un.
 *
 * A path that sun_path cannot hold is refused (-ENAMETOOLONG), never truncated: a truncated
 * path could name another socket. No retry and no message: callers differ in both (a
 * backend retries with back-off and stays quiet, xenctl names the socket it could not reach). */
#ifndef XENO_LIB_UNIX_SOCKET_H
#define XENO_LIB_UNIX_SOCKET_H

/* A SOCK_STREAM | SOCK_CLOEXEC socket connected to path (flags may add SOCK_NONBLOCK): the
 * descriptor, or -errno (-ENAMETOOLONG, or socket's/connect's errno, e.g. -ENOENT,
 * -ECONNREFUSED, -EINPROGRESS for a nonblocking socket whose connect must finish later;
 * the socket is closed on every error). Any thread. */
int unix_connect(const char *path, int flags);

#endif
