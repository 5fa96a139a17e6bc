#!/usr/bin/env python3
"""lint.py — clang-tidy (checks in .clang-tidy) and cppcheck on the library
and the CLI (base/ backend/ host/ cpu/ cl/ arena/ io/ cli/), with a clean
baseline: every finding fails the run unless scripts/lint.suppress lists it, and a listed
suppression that no longer matches a finding fails it too, so the list only
shrinks.

It configures a compile-command database in BUILD_DIR (no build), runs both
tools on every .c file of those folders (cl/none.c, which only a build
without OpenCL compiles, takes cl/devices.c's flags) and prints each
finding with its source line.

scripts/lint.suppress, one per line:
    TOOL PATH CHECK | CODE | REASON
TOOL is clang-tidy or cppcheck, PATH the file (from the repository root),
CHECK the check or cppcheck id, CODE a piece of the flagged source line (so
that an entry follows its line when code above it moves), REASON why the
finding is not a defect. Prefer fixing the code, or a NOLINT with the
reason on the line itself, in a file that is not being rewritten.

  lint.py [--build DIR] [--jobs N] [--only clang-tidy|cppcheck]
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FOLDERS = ("base", "backend", "host", "cpu", "cl", "arena", "io", "cli")
# Per-ISA kernel files that this machine's build does not compile (they need
# another architecture's headers and flags, e.g. arm_neon.h on x86-64).
OTHER_ARCH = ("cpu/neon.c", "cpu/avx2.c", "cpu/avx512.c")
FINDING = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<kind>warning|error|style|"
                     r"performance|portability|information): (?P<text>.*?) \[(?P<check>[^\]]+)\]$")


def sources():
    files = []
    for folder in FOLDERS:
        for dirpath, _, filenames in os.walk(os.path.join(ROOT, folder)):
            files += [os.path.join(dirpath, f) for f in filenames if f.endswith(".c")]
    return sorted(files)


def configure(build):
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
                    "-DCMAKE_BUILD_TYPE=Release", "-DVECSCORE_BUILD_TESTS=OFF",
                    "-DVECSCORE_BUILD_BENCH=OFF", "-DVECSCORE_BUILD_CLI=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as handle:
        database = json.load(handle)
    by_file = {os.path.abspath(entry["file"]): entry for entry in database}
    entries = []
    for path in sources():
        entry = by_file.get(path)
        if entry is None and os.path.relpath(path, ROOT) in OTHER_ARCH:
            continue  # kernels of another architecture: linted by that architecture's build
        if entry is None:  # a file of another configuration: a neighbour's flags
            neighbour = next((e for f, e in sorted(by_file.items())
                              if os.path.dirname(f) == os.path.dirname(path)), None)
            if neighbour is None:
                raise SystemExit("lint: no compile command near %s" % path)
            entry = dict(neighbour)
            entry["command"] = entry["command"].replace(neighbour["file"], path)
            entry["file"] = path
        entries.append(entry)
    lint_dir = os.path.join(build, "lint")
    os.makedirs(lint_dir, exist_ok=True)
    with open(os.path.join(lint_dir, "compile_commands.json"), "w", encoding="utf-8") as handle:
        json.dump(entries, handle, indent=1)
    return lint_dir, [e["file"] for e in entries]


def run_clang_tidy(lint_dir, files, jobs):
    def one(path):
        result = subprocess.run(["clang-tidy", "-p", lint_dir, "--quiet",
                                 "--extra-arg=-Wno-unknown-warning-option", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0 and "error:" not in result.stdout:
            return "clang-tidy failed on %s:\n%s" % (path, result.stderr)
        return result.stdout
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        return "\n".join(pool.map(one, files))


def run_cppcheck(lint_dir, jobs):
    result = subprocess.run(
        ["cppcheck", "--project=%s" % os.path.join(lint_dir, "compile_commands.json"),
         "--enable=warning,performance,portability", "--std=c11", "--quiet", "-j", str(jobs),
         "--inline-suppr", "--suppress=missingIncludeSystem", "--error-exitcode=0",
         "--template={file}:{line}:{column}: {severity}: {message} [{id}]"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.stdout


def findings(tool, output):
    found, seen = [], set()
    for line in output.splitlines():
        m = FINDING.match(line.strip())
        if not m:
            if tool == "clang-tidy" and "failed on" in line:
                found.append((tool, "?", 0, "tool-failure", line))
            continue
        path = os.path.relpath(os.path.abspath(m.group("file")), ROOT)
        for check in m.group("check").split(","):
            if check.startswith("-warnings-as-errors"):
                continue
            key = (tool, path, int(m.group("line")), check)
            if key not in seen:
                seen.add(key)
                found.append(key + (m.group("text"),))
            break  # aliases of one finding are one finding
    return found


def source_line(path, number):
    try:
        with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as handle:
            for i, line in enumerate(handle, 1):
                if i == number:
                    return line.strip()
    except OSError:
        pass
    return ""


def read_suppressions(path):
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            head = parts[0].split()
            if len(parts) != 3 or len(head) != 3 or not parts[1] or not parts[2]:
                raise SystemExit("%s:%d: expected 'TOOL PATH CHECK | CODE | REASON'" %
                                 (path, number))
            entries.append({"tool": head[0], "path": head[1], "check": head[2], "code": parts[1],
                            "reason": parts[2], "where": "%s:%d" % (os.path.basename(path), number),
                            "used": False})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-lint"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", choices=("clang-tidy", "cppcheck"))
    args = parser.parse_args()
    tools = [args.only] if args.only else ["clang-tidy", "cppcheck"]
    for tool in tools:
        if shutil.which(tool) is None:
            print("lint: %s is not installed (scripts/setup.sh test installs it)" % tool,
                  file=sys.stderr)
            return 2
    lint_dir, files = configure(os.path.abspath(args.build))
    results = []
    if "clang-tidy" in tools:
        results += findings("clang-tidy", run_clang_tidy(lint_dir, files, args.jobs))
    if "cppcheck" in tools:
        results += findings("cppcheck", run_cppcheck(lint_dir, args.jobs))
    suppressions = [s for s in read_suppressions(os.path.join(ROOT, "scripts", "lint.suppress"))
                    if s["tool"] in tools]
    open_findings = []
    for tool, path, line, check, text in sorted(results):
        code = source_line(path, line)
        match = next((s for s in suppressions if s["tool"] == tool and s["path"] == path and
                      s["check"] == check and s["code"] in code), None)
        if match:
            match["used"] = True
        else:
            open_findings.append((tool, path, line, check, text, code))
    for tool, path, line, check, text, code in open_findings:
        print("%s:%d: %s [%s] (%s)\n    %s" % (path, line, text, check, tool, code))
    stale = [s for s in suppressions if not s["used"]]
    for s in stale:
        print("%s: suppression matches no finding any more, remove it: %s %s %s | %s" %
              (s["where"], s["tool"], s["path"], s["check"], s["code"]))
    print("lint: %s on %d files: %d findings, %d suppressed (scripts/lint.suppress), %d open, "
          "%d stale suppressions" % (" and ".join(tools), len(files), len(results),
                                     len(results) - len(open_findings), len(open_findings),
                                     len(stale)))
    return 1 if open_findings or stale else 0


if __name__ == "__main__":
    sys.exit(main())
