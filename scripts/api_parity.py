#!/usr/bin/env python3
"""API parity (docs/api.md "Parity"): xenod's route table, xenctl's verbs and the web page
against the one description of the API, docs/openapi.yaml.

    api_parity.py routes --xenod BIN --openapi FILE
        every route of `xenod --list-routes` is an operation of the OpenAPI file and every
        operation there is a route; each route's {name} segments are declared path parameters
    api_parity.py verbs --xenctl BIN --openapi FILE
        every route row of `xenctl --list-routes` is an operation of the OpenAPI file; a local
        verb gives its reason
    api_parity.py web --openapi FILE --web DIR
        every "/v1/..." string in DIR's .js, .mjs and .html files names a documented path
        (passes, saying so, when DIR does not exist)

Prints one line per problem and exits 1 if there is any, else prints what it checked and
exits 0. The OpenAPI file is read with PyYAML (Debian's python3-yaml, scripts/install-deps.sh):
a real YAML parser, so flow mappings, quoting and $ref are read as any OpenAPI tool reads them.
"""
import argparse
import os
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PARAM = re.compile(r"^\{([A-Za-z0-9_]+)\}$")


def load_openapi(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        sys.exit(f"{path}: no 'paths' mapping")
    return doc


def operations(doc):
    """{(METHOD, PATH)} of the OpenAPI file."""
    ops = set()
    for path, item in doc["paths"].items():
        for method in item or {}:
            if method in METHODS:
                ops.add((method.upper(), path))
    return ops


def resolve(doc, obj):
    """A parameter object, its $ref followed (#/components/... only)."""
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        if not ref.startswith("#/"):
            return None
        node = doc
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        obj = node
    return obj


def path_params(doc, path, method):
    """The names of the path parameters declared for this operation (path level and its own)."""
    item = doc["paths"][path]
    names = set()
    for p in (item.get("parameters") or []) + ((item.get(method.lower()) or {}).get("parameters") or []):
        p = resolve(doc, p)
        if isinstance(p, dict) and p.get("in") == "path":
            names.add(p.get("name"))
    return names


def run_listing(binary):
    out = subprocess.run([binary, "--list-routes"], check=True, capture_output=True, text=True, timeout=30)
    return [line for line in out.stdout.splitlines() if line]


def check_routes(args):
    doc = load_openapi(args.openapi)
    documented = operations(doc)
    served = set()
    problems = []
    for line in run_listing(args.xenod):
        method, _, pattern = line.partition(" ")
        if not pattern:
            problems.append(f"xenod --list-routes: a line that is not 'METHOD PATTERN': {line!r}")
            continue
        served.add((method, pattern))
    if len(served) < 10:
        problems.append(f"xenod --list-routes listed {len(served)} routes: is it the real table?")
    for method, path in sorted(served - documented):
        problems.append(f"{method} {path}: served by xenod, missing from {args.openapi}")
    for method, path in sorted(documented - served):
        problems.append(f"{method} {path}: in {args.openapi}, but xenod has no such route")
    for method, path in sorted(served & documented):
        want = {m.group(1) for seg in path.split("/") if (m := PARAM.match(seg))}
        have = path_params(doc, path, method)
        if want != have:
            problems.append(
                f"{method} {path}: path parameters declared {sorted(have)}, the pattern has {sorted(want)}")
    return problems, f"{len(served)} routes of xenod, {len(documented)} operations of {args.openapi}: the same"


def check_verbs(args):
    documented = operations(load_openapi(args.openapi))
    problems = []
    verbs, local, routes = set(), [], 0
    for line in run_listing(args.xenctl):
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == "local":
            if len(fields[2]) < 10:
                problems.append(f"xenctl {fields[0]}: local, without a reason")
            local.append(fields[0])
        elif len(fields) == 2 and " " in fields[1]:
            method, path = fields[1].split(" ", 1)
            routes += 1
            if (method, path) not in documented:
                problems.append(f"xenctl {fields[0]}: {method} {path} is not in {args.openapi}")
        else:
            problems.append(f"xenctl --list-routes: a line that is neither a route nor local: {line!r}")
            continue
        verbs.add(fields[0].split(" ")[0])
    if len(verbs) < 20:
        problems.append(f"xenctl --list-routes named {len(verbs)} verbs: is it the real table?")
    return problems, (f"{len(verbs)} verbs of xenctl: {routes} routes, all in {args.openapi}; "
                      f"local: {', '.join(local)}")


# A JS/HTML string literal: '...', "..." or `...` (escapes kept; a template's ${...} as is).
LITERAL = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|`(?:[^`\\]|\\.)*`")


def template_parts(body):
    """A template literal's own text with each ${...} hole as NUL, and the holes' code (a hole
    may hold braces and literals of its own: `${at('/v1/domains/{ref}/console', ref)}`)."""
    own, holes, i = [], [], 0
    while i < len(body):
        if body.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(body) and depth:
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                j += 1
            holes.append(body[i + 2:j - 1])
            own.append("\0")
            i = j
        else:
            own.append(body[i])
            i += 1
    return "".join(own), holes


def segment_match(page_segs, api_segs, prefix):
    """A page's path (segments; None where a template hole is) against an OpenAPI path."""
    if len(page_segs) > len(api_segs) or (not prefix and len(page_segs) != len(api_segs)):
        return False
    for p, a in zip(page_segs, api_segs):
        if p is None or PARAM.match(a):
            continue  # a hole fills any segment; a {param} takes any value
        if p != a:
            return False
    return True


def web_paths(root):
    """(file, line, path text) of every "/v1/..." in a string literal of the page's files."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "node_modules" and not d.startswith(".")]
        for name in sorted(filenames):
            if not name.endswith((".js", ".mjs", ".html")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in LITERAL.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                for lit in literal_texts(m.group(0)):
                    at = lit.find("/v1/")
                    if at >= 0 or lit == "/v1":
                        yield path, line, lit[max(at, 0):]


def literal_texts(lit):
    """The text of a literal, and for a template those of the literals inside its holes."""
    if lit[0] != "`":
        return [lit[1:-1]]
    own, holes = template_parts(lit[1:-1])
    return [own] + [t for h in holes for m in LITERAL.finditer(h) for t in literal_texts(m.group(0))]


def check_web(args):
    if not os.path.isdir(args.web):
        return [], f"{args.web} does not exist: no web page to check (passes vacuously)"
    documented = {path for _, path in operations(load_openapi(args.openapi))}
    api = [(p, p.strip("/").split("/")) for p in documented]
    problems, seen = [], 0
    for file, line, text in web_paths(args.web):
        seen += 1
        text = re.split(r"[?#]", text, maxsplit=1)[0]
        prefix = text.endswith("/")  # '/v1/domains/' + name + ...: what follows is not known
        segs = [None if "\0" in s else s for s in text.strip("/").split("/")]
        # A segment is a name, or a {param} as the OpenAPI file writes it (the page fills it in).
        if any(s is not None and not re.fullmatch(r"[A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}", s) for s in segs):
            problems.append(f"{file}:{line}: '{text}' is not a path the checker can read")
            continue
        if not any(segment_match(segs, a, prefix) for _, a in api):
            shown = "/" + "/".join("${...}" if s is None else s for s in segs) + ("/..." if prefix else "")
            problems.append(f"{file}:{line}: {shown} is not a path of {args.openapi}")
    return problems, f"{seen} '/v1/' strings in {args.web}: all documented paths"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("routes")
    r.add_argument("--xenod", required=True)
    r.add_argument("--openapi", required=True)
    v = sub.add_parser("verbs")
    v.add_argument("--xenctl", required=True)
    v.add_argument("--openapi", required=True)
    w = sub.add_parser("web")
    w.add_argument("--web", required=True)
    w.add_argument("--openapi", required=True)
    args = ap.parse_args()
    problems, summary = {"routes": check_routes, "verbs": check_verbs, "web": check_web}[args.what](args)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
