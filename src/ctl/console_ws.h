/* `xenctl --server URL console REF`: the domain's console over xenod's WebSocket
 * (docs/api.md "Console over WebSocket"), so the CLI and the API stay one. The WebSocket is
 * opened with libcurl (TLS, the CA, the token in the Authorization header, as every remote
 * request), then a bridge thread turns it into a plain byte stream on a socketpair, which the
 * local attach code (console_attach.h) drives as it drives a monitor's console socket. */
#ifndef XENO_CTL_CONSOLE_WS_H
#define XENO_CTL_CONSOLE_WS_H

#include "ctl/api_client.h"

struct ctl_console_ws;

/* Opens the WebSocket at `path` (".../console", URL-escaped) of the remote target: 0 with *fd
 * the stream's end for ctl_console_attach_fd(), or -errno with err_msg() (xenod's answer for a
 * refusal: 401, 404, 409...). */
int ctl_console_ws_open(const struct ctl_api_target *t, const char *path, struct ctl_console_ws **out, int *fd);
/* After the attach returned (it closed *fd): waits for the bridge to end and frees it. */
void ctl_console_ws_close(struct ctl_console_ws *w);

#endif
