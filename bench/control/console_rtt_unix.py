#!/usr/bin/env python3
"""Keystroke-to-echo round trips straight on a monitor's console socket (no xenod, no
WebSocket): the baseline for bench/control/console.sh. Usage: console_rtt_unix.py SOCKET N"""
import socket
import sys
import time

path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.settimeout(10)
time.sleep(0.3)
s.setblocking(False)
try:
    while s.recv(65536):
        pass
except BlockingIOError:
    pass
s.setblocking(True)
times = []
for i in range(n):
    want = b"echo: urtt%d\n" % i
    seen = b""
    t0 = time.monotonic()
    s.sendall(b"urtt%d\r" % i)
    while want not in seen:
        seen += s.recv(65536)
    times.append((time.monotonic() - t0) * 1000)
times.sort()
print("round trips %d p50 %.2f ms p99 %.2f ms max %.2f ms" % (n, times[n // 2], times[n * 99 // 100], times[-1]))
