#!/usr/bin/env bash
# driver.sh — runs one golden CLI case (tests/cli/cases/NAME.sh) in a fresh
# directory. ctest registers one test per case file.
#
#   driver.sh VECSCORE BRUTEFORCE CASE_FILE WORK_DIR
#
# A case is a bash fragment that calls the helpers below. Each check names
# the command it checks; the first failure prints what was expected and what
# came out (stdout, stderr, exit code) and fails the case.
#
#   run ARGS...               vecscore ARGS, stdout/stderr/exit captured
#   expect_exit N             exit code of the last run
#   expect_stdout_exact FILE  stdout equals tests/cli/expected/FILE
#   expect_stdout_is TEXT     stdout equals TEXT (plus a final newline)
#   expect_stdout_match ERE   some stdout line matches the extended regex
#   expect_stderr_match ERE   some stderr line matches
#   expect_stdout_empty, expect_stderr_empty
#   expect_no_file PATH...    the paths do not exist
#   expect_no_temp            no temporary file (".vs.tmp-XXXXXX", or any ".*.tmp-*") is left
#   expect_same A B           files are byte-identical
#   fail MESSAGE
#
# Fixture helpers write small files byte by byte (no Python needed):
#   le32 N                    4 little-endian bytes of a 32-bit integer
#   f32 VALUE                 one of: 0 1 -1 2 0.5 nan inf
#   npy FILE DESCR FORTRAN SHAPE DATA_BYTES [VERSION]
set -u
VECSCORE=$1
BRUTEFORCE=$2
CASE=$3
WORK=$4
EXPECTED="$(cd "$(dirname "$CASE")/../expected" && pwd)"
CASE_PATH="$(cd "$(dirname "$CASE")" && pwd)/$(basename "$CASE")" # read after the cd below
CASE_NAME=$(basename "$CASE" .sh)

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 1

LAST_CMD=""
RC=0
fail() {
    echo "FAIL [$CASE_NAME] $*" >&2
    echo "  last command: vecscore $LAST_CMD" >&2
    echo "  exit code: $RC" >&2
    echo "  --- stdout (first 40 lines)" >&2
    head -n 40 stdout.txt >&2 2>/dev/null
    echo "  --- stderr (first 40 lines)" >&2
    head -n 40 stderr.txt >&2 2>/dev/null
    exit 1
}

run() {
    LAST_CMD="$*"
    "$VECSCORE" "$@" >stdout.txt 2>stderr.txt
    RC=$?
}

expect_exit() {
    [ "$RC" -eq "$1" ] || fail "expected exit code $1"
}
expect_stdout_exact() {
    cmp -s stdout.txt "$EXPECTED/$1" || {
        diff "$EXPECTED/$1" stdout.txt | head -n 20 >&2
        fail "stdout differs from expected/$1"
    }
}
expect_stdout_is() {
    printf '%s\n' "$1" | cmp -s - stdout.txt || fail "expected stdout: $1"
}
expect_stdout_match() {
    grep -Eq -- "$1" stdout.txt || fail "no stdout line matches: $1"
}
expect_stderr_match() {
    grep -Eq -- "$1" stderr.txt || fail "no stderr line matches: $1"
}
expect_stdout_empty() {
    [ ! -s stdout.txt ] || fail "expected an empty stdout"
}
expect_stderr_empty() {
    [ ! -s stderr.txt ] || fail "expected an empty stderr"
}
expect_no_file() {
    for path in "$@"; do
        [ ! -e "$path" ] || fail "$path should not exist"
    done
}
expect_no_temp() {
    local left
    left=$(find . -name '.*.tmp-*' | head -n 5)
    [ -z "$left" ] || fail "temporary files left behind: $left"
}
expect_same() {
    cmp -s "$1" "$2" || fail "$1 and $2 differ"
}

le32() {
    local n=$(($1 & 0xffffffff))
    printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $(((n >> 8) & 255)))"
    printf "\\x$(printf %02x $(((n >> 16) & 255)))\\x$(printf %02x $(((n >> 24) & 255)))"
}
f32() {
    case $1 in
    0) printf '\x00\x00\x00\x00' ;;
    1) printf '\x00\x00\x80\x3f' ;;
    -1) printf '\x00\x00\x80\xbf' ;;
    2) printf '\x00\x00\x00\x40' ;;
    0.5) printf '\x00\x00\x00\x3f' ;;
    nan) printf '\x00\x00\xc0\x7f' ;;
    inf) printf '\x00\x00\x80\x7f' ;;
    *) fail "f32: no bytes for $1" ;;
    esac
}
# npy FILE DESCR FORTRAN SHAPE DATA_BYTES [VERSION]: header padded to 64 bytes.
npy() {
    local file=$1 descr=$2 fortran=$3 shape=$4 bytes=$5 version=${6:-1}
    local dict="{'descr': '$descr', 'fortran_order': $fortran, 'shape': $shape, }"
    local preamble=10
    [ "$version" -ge 2 ] && preamble=12
    local total=$((preamble + ${#dict} + 1))
    total=$(((total + 63) / 64 * 64))
    local len=$((total - preamble))
    {
        printf "\\x93NUMPY\\x$(printf %02x "$version")\\x00"
        if [ "$version" -ge 2 ]; then le32 "$len"; else
            printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
        fi
        printf '%s' "$dict"
        printf "%$((len - ${#dict} - 1))s\n" ""
        head -c "$bytes" /dev/zero
    } >"$file"
}

# Standard fixtures: integer-valued byte vectors (exact dot and l2 scores on
# every ISA) and gaussian float vectors.
fixtures() {
    "$VECSCORE" gen --count 40 --dim 6 --seed 11 -o base.u8bin || fail "gen base.u8bin"
    "$VECSCORE" gen --count 4 --dim 6 --seed 12 -o q.u8bin || fail "gen q.u8bin"
    "$VECSCORE" gen --count 500 --dim 16 --seed 1 -o base.fvecs || fail "gen base.fvecs"
    "$VECSCORE" gen --count 30 --dim 16 --seed 2 -o q.fvecs || fail "gen q.fvecs"
}

# shellcheck source=/dev/null
. "$CASE_PATH" || fail "cannot read the case file $CASE"
echo "PASS [$CASE_NAME]"
