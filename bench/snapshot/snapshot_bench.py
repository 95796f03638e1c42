#!/usr/bin/env python3
"""Snapshot benchmark driver (bench/snapshot/run.sh; bench/README.md says what is measured).

For each memory size: boots build/guest/memfill.elf (fill=10: 10% of RAM non-zero, then idle)
under xeno-vmm and under QEMU, and measures
  - save: xeno-vmm `save PATH keep-running` over the control socket, request sent to reply
    (pause, write, fsync, rename); QEMU `migrate "exec:cat > PATH"` of the running (idle)
    guest until query-migrate says completed, then an fsync of the file (xeno-vmm's save
    includes one);
  - file size against the touched memory (the pages memfill wrote);
  - restore-to-running: from just before fork+exec of the monitor to the moment it runs the
    guest: for xeno-vmm the pid file appearing in --run-dir (written after every vCPU is
    unpaused, right before their KVM_RUN), lazy (default) and --restore-eager; for QEMU
    `-incoming defer`, then (as soon as its QMP socket answers) `migrate-incoming
    "exec:cat PATH"`, until its QMP RESUME event (QMP only delivers events to a negotiated
    session, so the load cannot start before it: the handshake, about a millisecond, is in
    QEMU's figure).
The snapshot files are in the page cache (just written): warm-cache figures.
Prints one table; --json FILE writes the numbers.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PAGE = 4096


def now():
    return time.monotonic()


def wait_for(pred, timeout, what, step=0.0002):
    end = now() + timeout
    while now() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError("timed out waiting for " + what)


def read_file(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def unix_connect(path, timeout=30):
    def attempt():
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            return None
    return wait_for(attempt, timeout, "socket " + path, step=0.0005)


def filled_pages(console):
    m = re.search(r"memfill: filled (\d+) pages", console)
    return int(m.group(1)) if m else None


# ---- xeno-vmm -------------------------------------------------------------------------

def control(run_dir, line, timeout=300):
    s = unix_connect(os.path.join(run_dir, "control.sock"))
    s.settimeout(timeout)
    t0 = now()
    s.sendall((line + "\n").encode())
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
        for l in buf.decode(errors="replace").splitlines():
            if l.startswith("ok") or l.startswith("err"):
                s.close()
                return l, now() - t0
    raise RuntimeError("no reply to " + line)


def vmm_stop(proc, run_dir):
    try:
        control(run_dir, "destroy", timeout=10)
    except Exception:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def xeno_boot(args, tmp, mem):
    run_dir = os.path.join(tmp, "xboot-" + mem)  # one per size: a console.log left behind would mislead
    log = open(run_dir + ".log", "w")
    proc = subprocess.Popen([args.vmm, "--run-dir", run_dir, "--kernel", args.kernel, "--memory", mem,
                             "--cmdline", "fill=%d" % args.fill], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    pages = wait_for(lambda: filled_pages(read_file(os.path.join(run_dir, "console.log"))), 600, "memfill to fill",
                     step=0.05)
    return proc, run_dir, pages


def xeno_restore(args, tmp, snap, eager, i):
    run_dir = os.path.join(tmp, "xr%d%s-%s" % (i, "e" if eager else "", os.path.basename(snap)))
    pid = os.path.join(run_dir, "pid")
    logp = run_dir + ".log"
    cmd = [args.vmm, "--run-dir", run_dir, "--restore", snap] + (["--restore-eager"] if eager else [])
    with open(logp, "w") as log:
        t0 = now()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(lambda: os.path.exists(pid), 60, "the restored monitor's pid file")
        t = now() - t0
    fill = None
    if not eager:
        m = wait_for(lambda: re.search(r"all saved memory in after (\d+) us", read_file(logp)), 60, "the lazy fill",
                     step=0.005)
        fill = int(m.group(1)) / 1e6
    vmm_stop(proc, run_dir)
    if "mismatch" in read_file(os.path.join(run_dir, "console.log")):
        raise RuntimeError("the restored guest reports a mismatch")
    return t, fill


def xeno_start(args, tmp, mem, i):
    """The monitor's own start, for scale: a fresh VM of the same size booted --paused, from
    fork+exec to its pid file (no snapshot: kernel loaded, nothing run)."""
    run_dir = os.path.join(tmp, "xs%d-%s" % (i, mem))
    t0 = now()
    proc = subprocess.Popen([args.vmm, "--run-dir", run_dir, "--kernel", args.kernel, "--memory", mem, "--paused"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(os.path.join(run_dir, "pid")), 60, "the monitor's pid file")
    t = now() - t0
    vmm_stop(proc, run_dir)
    return t


def bench_xeno(args, tmp, mem):
    proc, run_dir, pages = xeno_boot(args, tmp, mem)
    saves, size = [], 0
    snap = os.path.join(tmp, "xeno-%s.snap" % mem)
    for i in range(args.saves):
        reply, t = control(run_dir, "save %s keep-running" % snap)
        if not reply.startswith("ok"):
            raise RuntimeError("save: " + reply)
        saves.append(t)
        size = os.path.getsize(snap)
    vmm_stop(proc, run_dir)
    lazy, eager, fills, start = [], [], [], []
    for i in range(args.runs):  # alternate, so that drift in the host is shared
        t, fill = xeno_restore(args, tmp, snap, False, i)
        lazy.append(t)
        fills.append(fill)
        eager.append(xeno_restore(args, tmp, snap, True, i)[0])
        start.append(xeno_start(args, tmp, mem, i))
    os.unlink(snap)
    return {"touched_pages": pages, "save_s": saves, "file_bytes": size, "restore_lazy_s": lazy,
            "lazy_fill_s": fills, "restore_eager_s": eager, "start_paused_s": start}


# ---- QEMU -----------------------------------------------------------------------------

class Qmp:
    def __init__(self, path):
        self.s = unix_connect(path)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.f.readline()
        if not line:
            raise RuntimeError("QMP closed")
        return json.loads(line)

    def cmd(self, name, **a):
        self.f.write((json.dumps({"execute": name, "arguments": a}) + "\n").encode())
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise RuntimeError("QMP %s: %s" % (name, m["error"]))
            return m.get("return")

    def wait_event(self, name, timeout):
        self.s.settimeout(timeout)
        while True:
            for e in self.events:
                if e["event"] == name:
                    return e
            self.events.append(self.read())


def qemu_cmd(args, mem, qmp, extra):
    return [args.qemu, "-M", "microvm,memory-backend=mem", "-object", "memory-backend-memfd,id=mem,size=" + mem,
            "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", mem, "-smp", "1", "-display", "none",
            "-nodefaults", "-no-user-config", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", args.kernel, "-append", "fill=%d" % args.fill, "-qmp", "unix:%s,server=on,wait=off" % qmp] + extra


def bench_qemu(args, tmp, mem):
    qmp_path, out = os.path.join(tmp, "qboot-%s.qmp" % mem), os.path.join(tmp, "qboot-%s.out" % mem)
    proc = subprocess.Popen(qemu_cmd(args, mem, qmp_path, ["-serial", "file:" + out]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "qboot-%s.err" % mem), "w"))
    pages = wait_for(lambda: filled_pages(read_file(out)), 600, "memfill to fill under QEMU", step=0.05)
    q = Qmp(qmp_path)
    saves, size = [], 0
    snap = os.path.join(tmp, "qemu-%s.mig" % mem)
    for i in range(args.saves):
        if os.path.exists(snap):
            os.unlink(snap)
        t0 = now()
        # Not stopped first: QEMU records the run state and a restore of a stopped VM stays
        # stopped. The idle guest converges at once; QEMU stops it for the last pass itself.
        q.cmd("migrate", uri="exec:cat > " + snap)
        while True:
            st = q.cmd("query-migrate").get("status")
            if st in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.0005)
        if st != "completed":
            raise RuntimeError("QEMU migrate: " + st)
        fd = os.open(snap, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        saves.append(now() - t0)
        size = os.path.getsize(snap)
        q.cmd("cont")
    q.cmd("quit")
    proc.wait(30)
    restores = []
    for i in range(args.runs):
        qp = os.path.join(tmp, "qr%d-%s.qmp" % (i, mem))
        t0 = now()
        p = subprocess.Popen(qemu_cmd(args, mem, qp, ["-serial", "file:" + os.path.join(tmp, "qr%d-%s.out" % (i, mem)),
                                                       "-incoming", "defer"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, "qr%d-%s.err" % (i, mem)), "w"))
        rq = Qmp(qp)  # events only reach a negotiated QMP session: start the load after it
        rq.cmd("migrate-incoming", uri="exec:cat " + snap)
        rq.wait_event("RESUME", 60)
        restores.append(now() - t0)
        rq.cmd("quit")
        p.wait(30)
    os.unlink(snap)
    return {"touched_pages": pages, "save_s": saves, "file_bytes": size, "restore_s": restores}


# ---- report ---------------------------------------------------------------------------

def ms(v):
    return "%.1f" % (v * 1000)


def med(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="build/bin/xeno-vmm")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--kernel", default="build/guest/memfill.elf")
    ap.add_argument("--sizes", default="256M,1G")
    ap.add_argument("--fill", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--saves", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="snapbench.", dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        for mem in args.sizes.split(","):
            r = {"xeno": bench_xeno(args, tmp, mem)}
            if not args.no_qemu:
                r["qemu"] = bench_qemu(args, tmp, mem)
            results[mem] = r
            print("done: %s" % mem, file=sys.stderr)
    print("%-5s %-8s %9s %10s %9s %10s %12s %12s %12s %12s" % ("RAM", "monitor", "touched", "file", "file/t",
                                                               "save ms", "restore ms", "eager ms", "lazy fill",
                                                               "start ms"))
    for mem, r in results.items():
        x = r["xeno"]
        t = x["touched_pages"] * PAGE
        print("%-5s %-8s %8.1fM %9.1fM %8.3f %10s %12s %12s %11sms %12s" % (
            mem, "xeno-vmm", t / 2**20, x["file_bytes"] / 2**20, x["file_bytes"] / t, ms(med(x["save_s"])),
            ms(med(x["restore_lazy_s"])), ms(med(x["restore_eager_s"])), ms(med(x["lazy_fill_s"])),
            ms(med(x["start_paused_s"]))))
        print("%-5s %-8s restore ms min/median/max: lazy %s/%s/%s, eager %s/%s/%s" % (
            "", "", ms(min(x["restore_lazy_s"])), ms(med(x["restore_lazy_s"])), ms(max(x["restore_lazy_s"])),
            ms(min(x["restore_eager_s"])), ms(med(x["restore_eager_s"])), ms(max(x["restore_eager_s"]))))
        if "qemu" in r:
            q = r["qemu"]
            t = q["touched_pages"] * PAGE
            print("%-5s %-8s %8.1fM %9.1fM %8.3f %10s %12s %12s %12s" % (
                mem, "qemu", t / 2**20, q["file_bytes"] / 2**20, q["file_bytes"] / t, ms(med(q["save_s"])),
                ms(med(q["restore_s"])), "-", "-"))
    print("(medians: %d saves, %d restores each; restore ms = restore-to-running, lazy by default for xeno-vmm;"
          % (args.saves, args.runs))
    print(" start ms = the same monitor booting the same size --paused, fork+exec to pid file, for scale)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
