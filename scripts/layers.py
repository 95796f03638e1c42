#!/usr/bin/env python3
"""The folders of src/ and which may use which: the one table the build and the checks share.

    scripts/layers.py check            every #include "X/..." in src/ and tests/ follows the table,
                                       and the table itself has no cycle (exit 1 otherwise)
    scripts/layers.py link FILE.c ...  the archives (lib<name>.a stems, highest first) and system
                                       libraries a program built from FILE.c needs: the folders it
                                       includes and everything they may use, in link order
    scripts/layers.py link FOLDER      the same for a program whose main.c is in src/FOLDER: that
                                       folder's archive and everything it may use
    scripts/layers.py makevars FILE.c ...
                                       `LINK_name := stems` and `LIBS_name := -l...` lines for
                                       make, one pair per file (name: the file's base name)
    scripts/layers.py archives         every folder and its archive stem, one pair per line

A folder may include only itself and the folders listed for it (directly); anything else is an
upward include or a sideways one that would make a cycle. The table is ordered from the bottom
up, and a folder may only list folders above it in this file, which keeps it acyclic by
construction (the check verifies that too).
"""
import os
import re
import sys

# folder (under src/) -> (folders it may include, system libraries its objects need)
LAYERS = [
    ("lib", [], ["-lxml2", "-lcrypto"]),
    ("proto", ["lib"], ["-lnettle"]),
    ("sched", ["lib"], []),
    ("audit", ["lib"], ["-lzstd", "-lcrypto", "-lm"]),
    ("vhost", ["proto", "lib"], ["-lseccomp"]),
    ("net", ["vhost", "audit", "proto", "lib"], ["-lseccomp"]),
    ("blk", ["vhost", "proto", "lib"], ["-luring", "-lseccomp"]),  # xeno-blkback, its scheduler and image layer
    ("vmm/core", ["proto", "lib"], []),
    ("vmm/dev", ["vmm/core", "lib"], []),
    ("vmm/boot", ["vmm/dev", "vmm/core", "lib"], []),  # ACPI tables describe the devices
    ("vmm/virtio", ["vmm/core", "proto", "lib"], []),
    ("vmm/machine", ["vmm/virtio", "vmm/dev", "vmm/boot", "vmm/core", "sched", "lib"], []),
    ("vmm/state", ["vmm/machine", "vmm/virtio", "vmm/dev", "vmm/core", "proto", "lib"], []),
    ("vmm/host", ["vmm/state", "vmm/machine", "vmm/virtio", "vmm/dev", "vmm/boot", "vmm/core",
                  "sched", "proto", "lib"], ["-lseccomp"]),
    ("vmm", ["vmm/host", "vmm/state", "vmm/machine", "vmm/virtio", "vmm/dev", "vmm/boot",
             "vmm/core", "sched", "proto", "lib"], []),
    ("fleet", ["sched", "lib"], ["-lcurl", "-ljansson", "-lcrypto"]),  # etcd client, placement
    ("daemon", ["fleet", "sched", "proto", "lib"], ["-lmicrohttpd", "-ljansson", "-lsqlite3", "-lcrypto"]),
    ("ctl", ["fleet", "audit", "blk", "sched", "lib"], ["-lcurl", "-ljansson"]),
]
ALLOWED = {name: set(deps) for name, deps, _ in LAYERS}
SYSLIBS = {name: libs for name, _, libs in LAYERS}
ORDER = [name for name, _, _ in LAYERS]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A test that cannot include a folder's header (it declares what it uses itself) names the
# folders it links with a comment: /* link: vmm/boot */
LINK_DIRECTIVE = re.compile(r"^/\* link: ([a-z/ ]+) \*/", re.M)


def archive(folder):
    """vmm/core -> vmm_core (built as $(BUILD)/lib/libvmm_core.a); lib -> xeno (libxeno.a)."""
    return "xeno" if folder == "lib" else folder.replace("/", "_")


def folder_of_header(path):
    """'vmm/core/vm.h' -> 'vmm/core'; 'lib/err.h' -> 'lib'."""
    return os.path.dirname(path)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return INCLUDE.findall(f.read())


def table_problems():
    out = []
    for i, (name, deps, _) in enumerate(LAYERS):
        for d in deps:
            if d not in ALLOWED:
                out.append(f"layers table: {name} lists unknown folder {d}")
            elif ORDER.index(d) >= i:
                out.append(f"layers table: {name} lists {d}, which is not below it (a cycle)")
    return out


def check(root):
    problems = table_problems()
    for top in ("src", "tests", "bench"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, root)
                own = os.path.relpath(dirpath, os.path.join(root, "src")) if top == "src" else None
                for inc in includes(path):
                    target = folder_of_header(inc)
                    if target == "" or target not in ALLOWED:
                        if "/" in inc and top == "src":
                            problems.append(f"{rel}: includes {inc}: unknown folder")
                        continue
                    if own is None or own == target:
                        continue  # tests and bench may use any folder
                    if own not in ALLOWED:
                        problems.append(f"{rel}: folder {own} is not in scripts/layers.py")
                    elif target not in ALLOWED[own]:
                        problems.append(f"{rel}: includes {inc}: {own} may not use {target}")
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} problem(s); the table is in scripts/layers.py")
        return 1
    return 0


def closure(folders):
    seen = set()
    stack = list(folders)
    while stack:
        f = stack.pop()
        if f in seen:
            continue
        seen.add(f)
        stack.extend(ALLOWED[f])
    return sorted(seen, key=ORDER.index, reverse=True)


def needs(args):
    """(archive stems, system libraries) for a folder name or for source files."""
    folders = set()
    for a in args:
        if a in ALLOWED:
            folders.add(a)
            continue
        for inc in includes(a):
            t = folder_of_header(inc)
            if t in ALLOWED:
                folders.add(t)
        with open(a, encoding="utf-8", errors="replace") as f:
            for m in LINK_DIRECTIVE.findall(f.read()):
                folders.update(w for w in m.split() if w in ALLOWED)
    need = closure(folders)
    libs = []
    for f in need:
        for lib in SYSLIBS[f]:
            if lib not in libs:
                libs.append(lib)
    return [archive(f) for f in need], libs


def link(args):
    stems, libs = needs(args)
    print(" ".join(stems))
    print(" ".join(libs))
    return 0


def makevars(paths):
    for p in paths:
        name = os.path.splitext(os.path.basename(p))[0]
        stems, libs = needs([p])
        print(f"LINK_{name} := {' '.join(stems)}")
        print(f"LIBS_{name} := {' '.join(libs)}")
    return 0


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if len(argv) >= 2 and argv[1] == "check":
        return check(root)
    if len(argv) >= 3 and argv[1] == "link":
        return link(argv[2:])
    if len(argv) >= 2 and argv[1] == "makevars":
        return makevars(argv[2:])
    if len(argv) == 2 and argv[1] == "archives":
        for f in ORDER:
            print(f, archive(f))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
