#!/usr/bin/env python3
"""check_include_cycles.py — finds dependency cycles between the source
folders of the tree (host/, cpu/, cl/, arena/, io/, cli/, bench/ and any new
top-level folder with C sources) and between their files.

The graph. A node is a unit: a .c file together with the header of the same
name in the same folder (cl/cl_calls.c + cl/cl_calls.h), or a header alone
(host/internal.h). Unit A depends on unit B when
  - A includes a header of B (#include "..." resolved from A's folder, then
    include/, then the repository root), or
  - A uses a global symbol (function or variable, not static) that B
    defines: an identifier of A's code that is one of B's definitions. For a
    header, only the code that runs where it is included counts (macro
    bodies and inline function bodies), not its declarations.
A folder depends on another when one of its units depends on one of the
other's. A cycle is a strongly connected component of either graph with
more than one member; each is printed with one closed path through it and
the include or symbol behind every step.

The allow-list (default scripts/include_cycles.allow) names the cycles that
exist today, one per line, "folders: A B ..." or "files: a/x.c b/y.h ...",
as the members of the component. The check fails (exit 1) on a cycle that
is not listed (a new cycle, or a listed one that grew) and on a listed one
that is not found any more (it was removed or shrank: update the list, so it
only ever shrinks). Exit 0: every cycle found is listed and every listed one
is found. Exit 2: bad arguments or a malformed allow-list.

  check_include_cycles.py [--root DIR] [--allow FILE] [--print-allow | --edges]
  check_include_cycles.py --self-test
"""
import argparse
import os
import signal
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import list_lines  # noqa: E402

SOURCE_EXTENSIONS = (".c", ".h", ".cpp", ".hpp")
# Folders that use the library from outside (and are free to use any of it),
# and folders without sources.
EXCLUDED_FOLDERS = {"tests", "examples", "docs", "scripts", "cmake"}
# Identifiers before a parenthesis that are not a function's name.
NOT_A_NAME = {"__attribute__", "__declspec", "alignas", "_Alignas", "__typeof__", "typeof",
              "sizeof", "_Static_assert", "static_assert", "__extension__", "__asm__", "asm"}
STORAGE_NOT_GLOBAL = {"static", "extern", "typedef"}
TYPE_KEYWORDS = ("struct", "union", "enum", "typedef")
TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|[{}()\[\];=,]|\S")
IDENT = re.compile(r"[A-Za-z_]\w*$")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)


def strip_comments(text):
    """Returns (code without comments, the same without string and character
    literals); line breaks are kept so that directives stay on their lines."""
    out, out_nostr = [], []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            breaks = "\n" * text.count("\n", i, j)
            out.append(" " + breaks)
            out_nostr.append(" " + breaks)
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(text[i:j])
            out_nostr.append(c + c)
            i = j
        else:
            out.append(c)
            out_nostr.append(c)
            i += 1
    return "".join(out), "".join(out_nostr)


def split_directives(code):
    """Splits comment- and string-free code into (directive lines, other code)."""
    lines = code.replace("\\\n", " ").split("\n")
    directives = [line for line in lines if line.lstrip().startswith("#")]
    rest = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return directives, rest


def macro_body_tokens(directives):
    tokens = set()
    for line in directives:
        m = re.match(r"\s*#\s*define\s+[A-Za-z_]\w*(\([^)]*\))?(.*)", line)
        if m:
            tokens.update(t for t in TOKEN.findall(m.group(2)) if IDENT.match(t))
    return tokens


def skip_group(tokens, i, open_tok, close_tok):
    """tokens[i] is open_tok; returns the index just past its match."""
    depth = 0
    while i < len(tokens):
        if tokens[i] == open_tok:
            depth += 1
        elif tokens[i] == close_tok:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def function_name(stmt):
    """The name of the function a top-level statement declares or defines:
    the identifier before its last parenthesis group that is no attribute."""
    name, depth = None, 0
    for k, tok in enumerate(stmt):
        if tok == "(":
            if depth == 0 and k > 0 and IDENT.match(stmt[k - 1]) and stmt[k - 1] not in NOT_A_NAME:
                name = stmt[k - 1]
            depth += 1
        elif tok == ")":
            depth -= 1
    return name


def variable_name(stmt):
    """The name a top-level variable definition defines (before = [ , or ;)."""
    depth, last = 0, None
    for k, tok in enumerate(stmt):
        if tok in "([":
            if tok == "(" and depth == 0 and k + 2 < len(stmt) and stmt[k + 1] == "*":
                return stmt[k + 2] if IDENT.match(stmt[k + 2]) else None  # int (*fp)(void)
            if depth == 0 and tok == "[":
                return last
            depth += 1
        elif tok in ")]":
            depth -= 1
        elif depth == 0 and tok in ("=", ","):
            return last
        elif depth == 0 and IDENT.match(tok):
            last = tok
    return last


def has_top_level(stmt, wanted):
    depth = 0
    for tok in stmt:
        if tok in "([":
            depth += 1
        elif tok in ")]":
            depth -= 1
        elif depth == 0 and tok == wanted:
            return True
    return False


def parse_code(code):
    """Returns (global definitions, file-local (static) definitions,
    identifiers used inside braces) of directive-free code."""
    tokens = TOKEN.findall(code)
    definitions, statics, inner = set(), set(), set()
    stmt, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if stmt[:3] == ["extern", '"', '"'] and tok != "{":
            stmt = []  # extern "C" before one declaration: a linkage, not a storage class
        if tok == "{":
            is_function = "(" in stmt and not has_top_level(stmt, "=") and \
                (stmt[0] not in TYPE_KEYWORDS or stmt[-1] == ")")
            end = skip_group(tokens, i, "{", "}")
            body = tokens[i + 1:end - 1]
            if has_top_level(stmt, "="):  # an initializer: the statement goes on to its ;
                inner.update(t for t in body if IDENT.match(t))
                stmt = stmt + ["{", "}"]
                i = end
                continue
            if stmt and (stmt[0] == "namespace" or (stmt[0] == "extern" and len(stmt) <= 3)):
                i += 1  # extern "C" { or namespace x {: their contents are top level
                stmt = []
                continue
            inner.update(t for t in body if IDENT.match(t))
            if is_function:
                name = function_name(stmt)
                if name and "static" in stmt:
                    statics.add(name)
                elif name and name != "main" and not STORAGE_NOT_GLOBAL & set(stmt):
                    definitions.add(name)
                stmt = []
            else:
                stmt = stmt + ["{", "}"]  # struct/union/enum body: the statement goes on
            i = end
            continue
        if tok == ";":
            if stmt and "static" in stmt and stmt[0] not in TYPE_KEYWORDS:
                name = variable_name(stmt) if not has_top_level(stmt, "(") else None
                if name:
                    statics.add(name)
            elif stmt and not STORAGE_NOT_GLOBAL & set(stmt):
                name = function_name(stmt) if "(" in stmt else None
                is_prototype = name is not None and not has_top_level(stmt, "=") and \
                    variable_name(stmt) == name
                if not is_prototype and stmt[0] not in TYPE_KEYWORDS:
                    name = variable_name(stmt)
                    if name and name not in NOT_A_NAME:
                        definitions.add(name)
            stmt = []
        elif tok == "}":
            stmt = []  # the end of an extern "C" or namespace block
        else:
            stmt.append(tok)
        i += 1
    return definitions, statics, inner


class Unit:
    def __init__(self, name, folder):
        self.name = name  # "cl/cl_calls.c" or "host/internal.h"
        self.folder = folder
        self.files = []
        self.includes = []  # (path as written, kind)
        self.uses = set()
        self.defines = set()
        self.statics = set()  # file-local names, which hide another file's global of that name


def scan(root):
    """Returns {unit name: Unit} and {file path: unit name} for the tree."""
    files = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if not os.path.isdir(path) or entry.startswith(".") or entry.startswith("build") or \
                entry in EXCLUDED_FOLDERS:
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.endswith(SOURCE_EXTENSIONS):
                    files.append(os.path.relpath(os.path.join(dirpath, filename), root))
    stems = {os.path.splitext(f)[0] for f in files if f.endswith((".c", ".cpp"))}
    units, unit_of = {}, {}
    for f in files:
        stem, ext = os.path.splitext(f)
        if ext in (".h", ".hpp") and stem in stems:
            name = next(s + e for s in [stem] for e in (".c", ".cpp") if s + e in files)
        else:
            name = f
        unit = units.setdefault(name, Unit(name, f.split(os.sep)[0]))
        unit.files.append(f)
        unit_of[f] = name
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        code, code_nostr = strip_comments(text)
        unit.includes += [(m.group(2), m.group(1)) for m in INCLUDE.finditer(code)]
        directives, rest = split_directives(code_nostr)
        definitions, statics, inner = parse_code(rest)
        if ext in (".c", ".cpp"):
            unit.defines |= definitions
            unit.statics |= statics
            unit.uses |= {t for t in TOKEN.findall(rest) if IDENT.match(t)}
            unit.uses |= macro_body_tokens(directives)
        else:
            unit.uses |= inner | macro_body_tokens(directives)
    return units, unit_of, files


def resolve(include, kind, from_file, files, by_basename):
    candidates = []
    if kind == '"':
        candidates.append(os.path.normpath(os.path.join(os.path.dirname(from_file), include)))
    candidates += [os.path.normpath(os.path.join("include", include)), os.path.normpath(include)]
    for c in candidates:
        if c in files:
            return c
    if kind == '"' and len(by_basename.get(os.path.basename(include), [])) == 1:
        return by_basename[os.path.basename(include)][0]  # found through an -I of the build
    return None


def build_graph(root):
    units, unit_of, files = scan(root)
    fileset = set(files)
    by_basename = {}
    for f in files:
        by_basename.setdefault(os.path.basename(f), []).append(f)
    definers = {}
    for unit in units.values():
        for symbol in unit.defines:
            definers.setdefault(symbol, []).append(unit.name)
    edges = {name: {} for name in units}  # unit -> {unit: reason}
    for unit in units.values():
        for include, kind in unit.includes:
            target = resolve(include, kind, unit.files[0], fileset, by_basename)
            if target is None:
                continue
            other = unit_of[target]
            if other != unit.name:
                edges[unit.name].setdefault(other, "includes %s" % target)
        for symbol in sorted(unit.uses - unit.defines - unit.statics):
            for other in definers.get(symbol, []):
                if other != unit.name:
                    edges[unit.name].setdefault(other, "uses %s" % symbol)
    folder_edges = {}
    for a, targets in edges.items():
        fa = units[a].folder
        folder_edges.setdefault(fa, {})
        for b, why in targets.items():
            fb = units[b].folder
            if fa != fb:
                folder_edges[fa].setdefault(fb, "%s %s" % (a, why))
    return edges, folder_edges


def components(graph):
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    result.append(frozenset(members))
    return sorted(result, key=lambda c: sorted(c))


def witness(graph, members):
    """One closed path through the component, as a list of (from, to, reason),
    found breadth-first from its first member and back to it."""
    start = sorted(members)[0]
    parent, queue = {start: None}, [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path, cur = [(node, start)], node
                while parent[cur] is not None:
                    path.append((parent[cur], cur))
                    cur = parent[cur]
                return [(a, b, graph[a][b]) for a, b in reversed(path)]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    return []


def read_allow(path):
    allowed = []
    for number, line in list_lines(path):
        kind, _, members = line.partition(":")
        members = members.split()
        if kind.strip() not in ("folders", "files") or len(members) < 2:
            raise ValueError("%s:%d: expected 'folders: A B ...' or 'files: a/x.c b/y.c ...' "
                             "with two or more members" % (path, number))
        allowed.append((kind.strip(), frozenset(members)))
    return allowed


def check(root, allow_path, print_allow, out=sys.stdout, err=sys.stderr):
    edges, folder_edges = build_graph(root)
    found = [("folders", c, folder_edges) for c in components(folder_edges)] + \
        [("files", c, edges) for c in components(edges)]
    if print_allow:
        for kind, members, _ in found:
            print("%s: %s" % (kind, " ".join(sorted(members))), file=out)
        return 0
    try:
        allowed = read_allow(allow_path)
    except ValueError as error:
        print("check_include_cycles: %s" % error, file=err)
        return 2
    allowed_set = set(allowed)
    new = [(k, m, g) for k, m, g in found if (k, m) not in allowed_set]
    found_set = {(k, m) for k, m, _ in found}
    stale = [(k, m) for k, m in allowed if (k, m) not in found_set]
    rel_allow = os.path.relpath(allow_path, root)
    print("include cycles: %d found (%d listed in %s), %d new, %d listed but gone" %
          (len(found), len(found) - len(new), rel_allow, len(new), len(stale)), file=out)
    for kind, members, graph in found:
        label = "NEW" if (kind, members) not in allowed_set else "listed"
        singular = kind[:-1]
        print("%s %s cycle (%d): %s" % (label, singular, len(members), " ".join(sorted(members))),
              file=out)
        for a, b, why in witness(graph, members):
            print("    %s -> %s  (%s)" % (a, b, why), file=out)
    for kind, members in stale:
        inside = [" ".join(sorted(m)) for k, m, _ in found if k == kind and m < members]
        print("GONE %s cycle: %s is listed but not found%s: remove it from %s" %
              (kind[:-1], " ".join(sorted(members)),
               " (what is left of it: %s)" % "; ".join(inside) if inside else "", rel_allow),
              file=out)
    if new:
        print("a new cycle (or a listed one grew): make the dependency point one way "
              "(docs/design.md, layers); the allow-list only shrinks", file=out)
    return 1 if new or stale else 0


# ---- self-test -----------------------------------------------------------------------------

def self_test():
    def tree(files):
        root = tempfile.mkdtemp(prefix="include-cycles-")
        for path, text in files.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(text)
        return root

    class Sink:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

    def run(files, allow=None):
        root = tree(files)
        allow_path = os.path.join(root, "allow")
        if allow is not None:
            with open(allow_path, "w", encoding="utf-8") as handle:
                handle.write(allow)
        sink = Sink()
        listing = Sink()
        check(root, allow_path, True, listing)
        return check(root, allow_path, False, sink, sink), sink.text, listing.text

    failures = []

    def expect(name, got, want):
        if got != want:
            failures.append("%s: got %r, want %r" % (name, got, want))

    # Folders that include each other's headers and call each other.
    two_folders = {
        "a/x.c": '#include "x.h"\n#include "../b/y.h"\nint a_fn(void) { return b_fn(); }\n',
        "a/x.h": "int a_fn(void);\n",
        "b/y.c": '#include "y.h"\n#include "../a/x.h"\nint b_fn(void) { return a_fn(); }\n',
        "b/y.h": "int b_fn(void);\n",
    }
    rc, text, listing = run(two_folders)
    expect("two folders: exit", rc, 1)
    expect("two folders: found", listing, "folders: a b\nfiles: a/x.c b/y.c\n")
    expect("two folders: path named", "a/x.c -> b/y.c  (includes b/y.h)" in text, True)
    rc, text, _ = run(two_folders, "folders: a b\nfiles: b/y.c a/x.c  # today's\n")
    expect("two folders, listed: exit", rc, 0)
    rc, text, _ = run(two_folders, "folders: a b\n")
    expect("two folders, one listed: exit", rc, 1)
    expect("two folders, one listed: new named", "NEW file cycle (2): a/x.c b/y.c" in text, True)
    rc, text, _ = run(two_folders, "folders: a b\nfiles: a/x.c b/y.c\nfolders: a c\n")
    expect("stale entry: exit", rc, 1)
    expect("stale entry: named", "GONE folder cycle: a c is listed but not found" in text, True)
    rc, _, _ = run(two_folders, "files: a/x.c\n")
    expect("malformed allow-list: exit", rc, 2)

    # Two files of one folder that call each other through a shared header:
    # a file cycle, no folder cycle. A third that only calls is no part of it.
    one_folder = {
        "q/shared.h": "int qa(void);\nint qb(void);\n",
        "q/a.c": '#include "shared.h"\nint qa(void) { return qb() + 1; }\n',
        "q/b.c": '#include "shared.h"\nint qb(int n) { return n ? qa() : 0; }\n',
        "q/user.c": '#include "shared.h"\nint quser(void) { return qa(); }\n',
    }
    rc, text, listing = run(one_folder)
    expect("mutual calls: found", listing, "files: q/a.c q/b.c\n")

    # Declarations, statics, comments and strings make no edge; a header's
    # macro that calls a function does.
    no_cycle = {
        "r/api.h": "int r_fn(void);\n#define R_CALL() r_fn()\n",
        "r/api.c": '#include "api.h"\n#include "../s/low.h"\nint r_fn(void) { return low(); }\n',
        "s/low.h": "int low(void);\n",
        "s/low.c": ('#include "low.h"\n/* r_fn() is not called here */\n'
                    'static int r_fn(void) { return 1; }\n'
                    'const char *name = "r_fn";\nint low(void) { return r_fn(); }\n'),
        "t/use.c": '#include "../r/api.h"\nint t_fn(void) { return R_CALL(); }\n',
    }
    rc, text, listing = run(no_cycle)
    expect("no cycle: exit", rc, 0)
    expect("no cycle: found", listing, "")
    with_macro = dict(no_cycle)
    with_macro["s/low.c"] = ('#include "low.h"\n#include "../r/api.h"\n'
                             'int low(void) { return R_CALL() - 1; }\n')
    rc, text, listing = run(with_macro)
    expect("macro call: found", listing, "folders: r s\nfiles: r/api.c s/low.c\n")

    # Headers that include each other; a global variable as the used symbol.
    headers = {
        "h/one.h": '#include "two.h"\n',
        "h/two.h": '#include "one.h"\n',
        "v/table.c": '#include "../w/user.h"\nconst int v_table[4] = {1, 2, 3, w_count};\n',
        "w/user.c": "extern const int v_table[4];\nint w_count = 4;\nint w_get(int i) "
                    "{ return v_table[i]; }\n",
        "w/user.h": "extern int w_count;\n#define W_COUNT w_count\n",
        "tests/t.c": '#include "../v/table.c"\nint main(void) { return v_table[0]; }\n',
    }
    headers["w/peer.cpp"] = ('extern "C" int w_peer(void) { return 1; }\n'
                             'extern "C" {\nint w_peer2(void) { return 2; }\n}\n')
    headers["w/user.c"] += "int w_more(void) { return w_peer() + w_peer2(); }\n"
    headers["h/use.c"] = "int h_use(void) { return w_peer2(); }\nint h_back = 1;\n"
    headers["w/peer.cpp"] += "int w_peer3(void) { return h_back; }\n"
    rc, text, listing = run(headers)
    expect("headers and variables: found", listing,
           "folders: h v w\nfiles: h/one.h h/two.h\nfiles: h/use.c w/peer.cpp\n"
           "files: v/table.c w/user.c\n")

    if failures:
        for failure in failures:
            print("check_include_cycles self-test FAILED: %s" % failure, file=sys.stderr)
        return 1
    print("check_include_cycles: self-test passed (cycles between folders, between files, "
          "through shared headers, headers, macros and variables; allow-list matching)")
    return 0


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."),
                        help="the repository root (default: the parent of scripts/)")
    parser.add_argument("--allow", help="the allow-list (default ROOT/scripts/include_cycles.allow)")
    parser.add_argument("--print-allow", action="store_true",
                        help="print the cycles found in allow-list form and exit 0")
    parser.add_argument("--edges", action="store_true",
                        help="print every dependency (folder and unit) with its reason and exit 0")
    parser.add_argument("--self-test", action="store_true", help="check the checker and exit")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        print("check_include_cycles: --root %s is not a directory" % root, file=sys.stderr)
        return 2
    if args.edges:
        edges, folder_edges = build_graph(root)
        for graph in (folder_edges, edges):
            for a in sorted(graph):
                for b in sorted(graph[a]):
                    print("%s -> %s  (%s)" % (a, b, graph[a][b]))
        return 0
    allow = args.allow or os.path.join(root, "scripts", "include_cycles.allow")
    return check(root, allow, args.print_allow)


if __name__ == "__main__":
    sys.exit(main())
