#!/usr/bin/env python3
"""check_function_length.py — no function of the library longer than the limit
(100 lines, from the line of its name to its closing brace) without a
written reason.

A long function passes when the comment right above it (or above its
return type) says why, in a paragraph that starts with "Long:" — for
example "Long: one straight sequence of checks, each with its own message;
split, they would pass a dozen locals around." The functions that are long
today without one are listed in scripts/long_functions.allow ("PATH NAME"
per line); the check fails on a long function that has neither, and on a
listed one that is no longer long (or gone), so the list only shrinks.

Checked folders: the library (base/ backend/ host/ cpu/ cl/ arena/ io/) and
the programs built from this tree (cli/ bench/ mpi/); tests/ and examples/
are not (test case tables and standalone examples). --folders changes the
set.

  check_function_length.py [--root DIR] [--limit N] [--folders A,B] [--list]
  check_function_length.py --self-test
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import blank_comments_and_strings, list_lines  # noqa: E402

LIBRARY = ("base", "backend", "host", "cpu", "cl", "arena", "io")
PROGRAMS = ("cli", "bench", "mpi")
ALLOW = "scripts/long_functions.allow"
NAME = re.compile(r"([A-Za-z_]\w*)\s*\($")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else"}


def functions(text):
    """[(name, first_line, last_line)] of the function definitions in text (1-based lines)."""
    code = blank_comments_and_strings(text)
    # Preprocessor lines (with continuations) do not open or close bodies.
    lines = code.split("\n")
    cleaned, continuing = [], False
    for line in lines:
        is_directive = continuing or line.lstrip().startswith("#")
        continuing = is_directive and line.rstrip().endswith("\\")
        cleaned.append(" " * len(line) if is_directive else line)
    code = "\n".join(cleaned)
    found, depth, i = [], 0, 0
    while i < len(code):
        c = code[i]
        if c == "{":
            if depth == 0:
                head = code[:i].rstrip()
                if head.endswith(")"):
                    # the matching '(' of the parameter list, then the name before it
                    level, j = 0, len(head) - 1
                    while j >= 0:
                        if head[j] == ")":
                            level += 1
                        elif head[j] == "(":
                            level -= 1
                            if level == 0:
                                break
                        j -= 1
                    m = NAME.search(head[:j + 1])
                    if m and m.group(1) not in KEYWORDS:
                        start_line = code.count("\n", 0, m.start(1)) + 1
                        found.append([m.group(1), start_line, None, i])
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and found and found[-1][2] is None:
                found[-1][2] = code.count("\n", 0, i) + 1
        i += 1
    return [(name, first, last) for name, first, last, _ in found if last is not None]


def has_reason(text_lines, first_line):
    """1 if the comment just above the function (or its return type line) has 'Long:'."""
    i = first_line - 2  # 0-based index of the line above the name
    # the return type may be on the line above the name
    while i >= 0 and text_lines[i].strip() and not text_lines[i].strip().endswith("*/") \
            and not text_lines[i].strip().startswith(("/*", "*", "//")):
        i -= 1
    block = []
    while i >= 0 and text_lines[i].strip().startswith(("/*", "*", "//")) or \
            (i >= 0 and text_lines[i].strip().endswith("*/")):
        block.append(text_lines[i])
        if text_lines[i].strip().startswith(("/*", "//")):
            break
        i -= 1
    return any(re.search(r"(^|[\s*/])Long:", line) for line in block)


def scan(root, folders, limit):
    """{(path, name): (length, reasoned)} for every function longer than limit."""
    long = {}
    for folder in folders:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            continue
        for dirpath, _, files in os.walk(base):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                lines = text.split("\n")
                for name, first, last in functions(text):
                    length = last - first + 1
                    if length > limit:
                        long[(rel, name)] = (length, has_reason(lines, first))
    return long


def read_allow(path):
    entries = set()
    for number, line in list_lines(path):
        parts = line.split()
        if len(parts) != 2:
            print(f"check_function_length: {path}:{number}: expected 'PATH NAME'")
            sys.exit(2)
        entries.add((parts[0], parts[1]))
    return entries


def check(root, folders, limit, allow_path, listing=False):
    long = scan(root, folders, limit)
    allow = read_allow(allow_path)
    if listing:
        for (path, name), (length, reasoned) in sorted(long.items(), key=lambda x: -x[1][0]):
            print(f"{length:5d}  {path} {name}{'  (reason given)' if reasoned else ''}")
        return 0
    problems = []
    for (path, name), (length, reasoned) in sorted(long.items()):
        if not reasoned and (path, name) not in allow:
            problems.append(f"{path}: {name} is {length} lines (limit {limit}): split it, or say "
                            f"why it is long in a 'Long:' paragraph of the comment above it")
    for path, name in sorted(allow):
        if (path, name) not in long:
            problems.append(f"{path}: {name} is listed in {os.path.relpath(allow_path, root)} but "
                            f"is no longer over {limit} lines: remove the line")
        elif long[(path, name)][1]:
            problems.append(f"{path}: {name} has a 'Long:' reason now: remove it from the list")
    for p in problems:
        print(f"check_function_length: {p}")
    if not problems:
        reasoned = sum(1 for v in long.values() if v[1])
        print(f"check_function_length: {len(long)} function(s) over {limit} lines: {reasoned} "
              f"with a written reason, {len(long) - reasoned} listed in the allow-list")
    return 1 if problems else 0


def self_test():
    body = "\n".join(f"    x += {i};" for i in range(5))
    text = ("/* short */\nstatic int small(int x) {\n" + body + "\n    return x;\n}\n\n"
            "/*\n * Long: a reason.\n */\nstatic int\nreasoned(int x) {\n" + body + "\n"
            "    return x;\n}\n\nint plain(void) {\n    if (1) {\n" + body + "\n    }\n"
            "    return 0;\n}\n#define M(x) { x }\n")
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "host"))
        os.makedirs(os.path.join(root, "scripts"))
        with open(os.path.join(root, "host", "a.c"), "w") as f:
            f.write(text)
        allow = os.path.join(root, ALLOW)
        got = {k[1]: v for k, v in scan(root, ["host"], 5).items()}
        if set(got) != {"small", "reasoned", "plain"} or not got["reasoned"][1] or got["plain"][1]:
            print("self-test: scan found", got)
            failures += 1
        with open(allow, "w") as f:
            f.write("host/a.c small\nhost/a.c plain\n")
        if check(root, ["host"], 5, allow) != 0:
            failures += 1
        with open(allow, "w") as f:
            f.write("host/a.c small\n")
        if check(root, ["host"], 5, allow) != 1:  # plain is long without a reason
            failures += 1
        with open(allow, "w") as f:
            f.write("host/a.c small\nhost/a.c plain\nhost/a.c gone\n")
        if check(root, ["host"], 5, allow) != 1:  # a listed function that is not long
            failures += 1
    print("check_function_length self-test:", "FAILED" if failures else "ok")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--folders", default=",".join(LIBRARY + PROGRAMS))
    parser.add_argument("--list", action="store_true", help="print every long function")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    return check(root, args.folders.split(","), args.limit, os.path.join(root, ALLOW), args.list)


if __name__ == "__main__":
    sys.exit(main())
