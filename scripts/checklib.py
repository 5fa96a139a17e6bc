"""checklib.py — what the build checks in scripts/ share (not a check itself).

  blank_comments_and_strings(text)   C source with comments and literals blanked
  list_lines(path)                   the entries of an allow-list file
  self_test_trees(tool, cases, run)  a check's self-test over small file trees
  root_main(doc, check, self_test)   the command line of a check that takes only
                                     --root DIR and --self-test
"""
import argparse
import os
import tempfile


def blank_comments_and_strings(text):
    """text with comments and string/char literals replaced by blanks; every
    character keeps its offset (newlines are kept), so a match in the result
    can be read back in text at the same place."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def list_lines(path):
    """[(line number, entry)] of an allow-list: '#' starts a comment, blank
    lines are skipped; [] when the file does not exist."""
    if not os.path.exists(path):
        return []
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                entries.append((number, line))
    return entries


def self_test_trees(tool, cases, run):
    """Each case (files, want): files {relative path: text} written into a
    fresh temporary tree, run(root) must return want. Prints a line per
    failure and the verdict; returns 0 when every case held, else 1."""
    failed = 0
    for files, want in cases:
        with tempfile.TemporaryDirectory() as root:
            for rel, text in files.items():
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            got = run(root)
        if got != want:
            print(f"{tool} self-test: expected {want}, got {got} for {files}")
            failed = 1
    print(f"{tool} self-test:", "FAILED" if failed else "ok")
    return failed


def root_main(doc, check, self_test):
    """Parses [--root DIR] [--self-test] (the root defaults to the repository
    this file is in) and returns self_test() or check(absolute root)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    return self_test() if args.self_test else check(os.path.abspath(args.root))
