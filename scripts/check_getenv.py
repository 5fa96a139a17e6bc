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
import argparse
import os
import re
import sys
import tempfile

LIBRARY = ("base", "backend", "host", "cpu", "cl", "io", "arena")
# file -> the variables it may read (None: any), and why.
ALLOWED = {
    "host/options.c": (None, "vs__option_env, the one reader of the options table"),
    "base/cache.c": ({"XDG_CACHE_HOME", "HOME"},
                     "the XDG base-directory rule for the default cache directory"),
}
READ = re.compile(r"\b(?:__secure_getenv|secure_getenv|getenv)\s*\(|\benviron\b")
VARIABLE = re.compile(r"\s*\"([^\"]*)\"")


def blank_comments(text):
    """text with comments blanked (newlines kept) and string literals kept, as a
    list of (text_without_comments, strings_blanked) pairs of equal length."""
    code, plain, i, n = [], [], 0, len(text)
    while i < n:
        if text.startswith("//", i) or text.startswith("/*", i):
            end = text.find("\n", i) if text[i + 1] == "/" else text.find("*/", i + 2)
            end = n if end < 0 else (end if text[i + 1] == "/" else end + 2)
            blank = "".join(c if c == "\n" else " " for c in text[i:end])
            code.append(blank)
            plain.append(blank)
            i = end
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            code.append(text[i:j])
            plain.append(" " * (j - i))
            i = j
        else:
            code.append(text[i])
            plain.append(text[i])
            i += 1
    return "".join(code), "".join(plain)


def reads(text):
    """[(line, variable or None)] of the environment reads in C source text."""
    code, plain = blank_comments(text)
    found = []
    for m in READ.finditer(plain):
        name = VARIABLE.match(code, m.end()) if m.group(0).endswith("(") else None
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
    failed = 0
    for rel, text, want in cases:
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, os.path.dirname(rel)))
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
            got = check(root)
            if got != want:
                print(f"check_getenv self-test: expected {want}, got {got} for {rel}: {text}")
                failed = 1
    print("check_getenv self-test:", "FAILED" if failed else "ok")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    return check(os.path.abspath(args.root))


if __name__ == "__main__":
    sys.exit(main())
