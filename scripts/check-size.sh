#!/bin/bash
# Reports every C source over MAX_FILE_LINES lines (default 800) and every function over
# MAX_FUNC_LINES lines (default 120), and exits 1 if there is any; 0 if none.
# Usage: scripts/check-size.sh [DIR|FILE...]   (default: src)
#
# A function runs from the first line of its definition (a line at column 0 after a blank
# line, a comment, a preprocessor line or the end of the previous declaration) to its closing
# `}` at column 0; its body opens with `{` alone at column 0, as .clang-format lays it out.
# Headers count too: a static inline function is a function.
set -euo pipefail

max_file=${MAX_FILE_LINES:-800}
max_func=${MAX_FUNC_LINES:-120}
[ $# -gt 0 ] || set -- src

mapfile -t files < <(find "$@" -type f \( -name '*.c' -o -name '*.h' \) | sort)
[ ${#files[@]} -gt 0 ] || { echo "check-size: no C sources under $*" >&2; exit 2; }

status=0
for f in "${files[@]}"; do
    lines=$(wc -l < "$f")
    if [[ $f == *.c && $lines -gt $max_file ]]; then
        echo "$f: $lines lines (more than $max_file)"
        status=1
    fi
done

awk -v max="$max_func" '
    FNR == 1 { start = 0; in_func = 0 }
    # Outside a body: track where the current declaration began.
    !in_func && /^$|^#|^\/\*|^ \*|^\/\/|;[ \t]*$/ { start = 0; next }
    !in_func && /^[A-Za-z_]/ { if (!start) start = FNR; sig = $0; next }
    !in_func && /^\{/ {
        in_func = 1
        if (!start) { start = FNR; sig = "" }
        name = sig
        sub(/\(.*/, "", name)
        n = split(name, w, /[ \t*]+/)
        name = w[n]
        next
    }
    in_func && /^\}/ {
        len = FNR - start + 1
        if (len > max) { printf "%s:%d: function %s is %d lines (more than %d)\n", FILENAME, start, name, len, max; bad = 1 }
        in_func = 0; start = 0
        next
    }
    END { exit bad }
' "${files[@]}" || status=1

exit $status
