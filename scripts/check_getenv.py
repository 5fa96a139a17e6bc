#!/usr/bin/env python3
"""check_getenv.py — the library reads the environment in one place only.

Every VECSCORE_* knob is a row of the options table (host/options.h) and
is read by vs__option_env in host/options.c while host/context.c resolves a
context's configuration; backends and the rest of the library get the
resolved values. This check fails on any other call of getenv,
secure_getenv or use of environ in the library folders (base/ backend/
host/ cpu/ cl/ io/ arena/), comments and string literals aside.

Allowed, each with its reason (ALLOWED below):
  host/options.c  any variable: the one reader of the options table
  base/cache.c    XDG_CACHE_HOME and HOME: not knobs of ours but the XDG
                  base-directory rule for the default cache directory

The CLI (cli/), the benchmark (bench/) and the tests are programs, not the
library, and are not checked (the CLI's test hooks: CONTRIBUTING.md).
Exit 0 when clean, 1 with one line per offending read.

  check_getenv.py [--root DIR]
  check_getenv.py --self-test
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import blank_comments_and_strings, root_main, self_test_trees  # noqa: E402

LIBRARY = ("base", "backend", "host", "cpu", "cl", "io", "arena")
# file -> the variables it may read (None: any), and why.
ALLOWED = {
    "host/options.c": (None, "vs__option_env, the one reader of the options table"),
    "base/cache.c": ({"XDG_CACHE_HOME", "HOME"},
                     "the XDG base-directory rule for the default cache directory"),
}
READ = re.compile(r"\b(?:__secure_getenv|secure_getenv|getenv)\s*\(|\benviron\b")
VARIABLE = re.compile(r"\s*\"([^\"]*)\"")


def reads(text):
    """[(line, variable or None)] of the environment reads in C source text."""
    plain = blank_comments_and_strings(text)  # same offsets as text
    found = []
    for m in READ.finditer(plain):
        name = VARIABLE.match(text, m.end()) if m.group(0).endswith("(") else None
        found.append((plain.count("\n", 0, m.start()) + 1, name.group(1) if name else None))
    return found


def check(root):
    problems = []
    for folder in LIBRARY:
        base = os.path.join(root, folder)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                allowed = ALLOWED.get(rel)
                for line, variable in reads(text):
                    if allowed is not None and (allowed[0] is None or variable in allowed[0]):
                        continue
                    what = f"getenv(\"{variable}\")" if variable else "an environment read"
                    problems.append(f"{rel}:{line}: {what} outside the options table; make it a "
                                    f"row of VS_OPTIONS_TABLE (host/options.h), resolved by "
                                    f"host/context.c")
    for p in problems:
        print(f"check_getenv: {p}")
    if not problems:
        print("check_getenv: the library reads the environment only through host/options.c "
              "(and base/cache.c's XDG_CACHE_HOME/HOME)")
    return 1 if problems else 0


def self_test():
    cases = [
        ("host/options.c", 'x = getenv(name);\n', 0),
        ("base/cache.c", 'a = getenv("HOME"); b = getenv("XDG_CACHE_HOME");\n', 0),
        ("base/cache.c", 'a = getenv("VECSCORE_X");\n', 1),
        ("cl/backend.c", 'const char *k = getenv("VECSCORE_CL_BLOCK");\n', 1),
        ("host/compact.c", 'f(secure_getenv ("VECSCORE_COMPACT_ISA"));\n', 1),
        ("cpu/pool.c", 'extern char **environ;\n', 1),
        ("io/reader.c", 'x = getenv(name);\n', 1),
        ("cpu/backend.c", '/* getenv("X") in a comment */ s = "getenv(";\n', 0),
        ("cli/main.c", 'x = getenv("VECSCORE_CLI");\n', 0),
    ]
    return self_test_trees("check_getenv", [({rel: text}, want) for rel, text, want in cases],
                           check)


def main():
    return root_main(__doc__, check, self_test)


if __name__ == "__main__":
    sys.exit(main())
