#!/usr/bin/env python3
"""check_options.py — the README's options table against the options table of
the library (VS_OPTIONS_TABLE in host/options.h).

Each row of the README table "| `field` | `VECSCORE_X` | default text |"
must match a row X(field, "VECSCORE_X", scope, ..., "default text") of the
header, in the same order, and every header row must be in the README. An
environment-only knob (scope VS_OPTION_ENV_ONLY: no vs_options field) has
"—" in the README's option column. The header's
last column is the README's default column, verbatim (C string pieces are
joined). Exit 0 when they agree, 1 with one line per difference, 2 when a
table cannot be found.

  check_options.py [--root DIR]
  check_options.py --self-test
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import root_main, self_test_trees  # noqa: E402

HEADER = "host/options.h"
README = "README.md"
ROW_START = re.compile(r"^\s*X\(\s*(\w+)\s*,\s*\"(VECSCORE_\w+)\"\s*,\s*(VS_OPTION_\w+)")
ENV_ONLY = "VS_OPTION_ENV_ONLY"
NO_FIELD = "—"


def c_strings(text):
    """The concatenated value of the C string literals in text."""
    return "".join(bytes(m.group(1), "utf-8").decode("unicode_escape")
                   for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text))


def header_rows(path):
    """[(field, env, readme)] from VS_OPTIONS_TABLE."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find("#define VS_OPTIONS_TABLE(X)")
    if start < 0:
        return None
    lines = []
    for line in text[start:].splitlines()[1:]:
        body = line.rstrip()
        more = body.endswith("\\")
        lines.append(body.rstrip("\\"))
        if not more:
            break
    rows, current = [], None
    for line in lines:
        m = ROW_START.match(line)
        if m:
            if current:
                rows.append(current)
            field = NO_FIELD if m.group(3) == ENV_ONLY else m.group(1)
            current = [field, m.group(2), line[m.end():]]
        elif current:
            current[2] += line
    if current:
        rows.append(current)
    result = []
    for field, env, rest in rows:
        # The last argument: the string literals after the last top-level comma.
        depth, last_comma = 0, -1
        in_string = False
        for i, ch in enumerate(rest):
            if ch == '"' and (i == 0 or rest[i - 1] != "\\"):
                in_string = not in_string
            elif not in_string and ch == "(":
                depth += 1
            elif not in_string and ch == ")":
                depth -= 1
            elif not in_string and ch == "," and depth == 0:
                last_comma = i
        result.append((field, env, c_strings(rest[last_comma + 1:])))
    return result


def readme_rows(path):
    """[(field, env, default)] from the README's "| option | environment | default |" table."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\|\s*option\s*\|\s*environment\s*\|\s*default\s*\|\s*$", line):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip().strip("|").split("|")]
                if len(cells) != 3:
                    rows.append(("?", "?", row))
                    continue
                rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2]))
            return rows
    return None


def compare(root):
    header = header_rows(os.path.join(root, HEADER))
    readme = readme_rows(os.path.join(root, README))
    if header is None:
        print(f"check_options: no VS_OPTIONS_TABLE in {HEADER}")
        return 2
    if readme is None:
        print(f"check_options: no '| option | environment | default |' table in {README}")
        return 2
    problems = []
    for i in range(max(len(header), len(readme))):
        h = header[i] if i < len(header) else None
        r = readme[i] if i < len(readme) else None
        if h is None:
            problems.append(f"README row {i + 1} ({r[0]}) is not in {HEADER}")
        elif r is None:
            problems.append(f"{HEADER} option {h[0]} ({h[1]}) is missing from the README table")
        elif h[0] != r[0] or h[1] != r[1]:
            problems.append(f"row {i + 1}: {HEADER} has {h[0]} / {h[1]}, README has {r[0]} / {r[1]}")
        elif h[2] != r[2]:
            problems.append(f"{h[0]}: the default differs\n  {HEADER}: {h[2]}\n  README:  {r[2]}")
    for p in problems:
        print(f"check_options: {p}")
    if not problems:
        print(f"check_options: the README lists the {len(header)} options of {HEADER}")
    return 1 if problems else 0


def self_test():
    header = ('#define VS_OPTIONS_TABLE(X) \\\n'
              '    X(alpha, "VECSCORE_ALPHA", VS_OPTION_FIELD, K, 0, 1, "e", "one " \\\n'
              '      "two") \\\n'
              '    X(beta, "VECSCORE_BETA", VS_OPTION_FIELD, K, 0, 1, "e", "`b`") \\\n'
              '    X(gamma, "VECSCORE_GAMMA", VS_OPTION_ENV_ONLY, K, 0, 1, "e", "g")\n')
    good = "| option | environment | default |\n|---|---|---|\n" \
           "| `alpha` | `VECSCORE_ALPHA` | one two |\n| `beta` | `VECSCORE_BETA` | `b` |\n" \
           "| — | `VECSCORE_GAMMA` | g |\n"
    cases = [(good, 0), (good.replace("one two", "one three"), 1),
             (good.replace("| `beta` | `VECSCORE_BETA` | `b` |\n", ""), 1),
             (good.replace("| — | `VECSCORE_GAMMA` | g |\n", ""), 1),
             (good.replace("| — |", "| `gamma` |"), 1),
             (good.replace("VECSCORE_BETA", "VECSCORE_DELTA"), 1), ("no table\n", 2)]
    return self_test_trees("check_options",
                           [({HEADER: header, README: readme}, want) for readme, want in cases],
                           compare)


def main():
    return root_main(__doc__, compare, self_test)


if __name__ == "__main__":
    sys.exit(main())
