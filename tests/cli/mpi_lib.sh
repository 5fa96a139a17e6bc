# mpi_lib.sh — helpers of the "# needs: mpi" cases (sourced by them, after
# driver.sh's): vecscore-mpi is VECSCORE_TEST_MPI, mpirun VECSCORE_TEST_MPIEXEC
# (tests/CMakeLists.txt). They fail, never skip, without them.
[ -n "${VECSCORE_TEST_MPI:-}" ] && [ -x "$VECSCORE_TEST_MPI" ] || fail "VECSCORE_TEST_MPI is not set"
MPIEXEC=${VECSCORE_TEST_MPIEXEC:-mpirun}
command -v "$MPIEXEC" >/dev/null || fail "no $MPIEXEC"
# Under ASan, Open MPI's leaks at exit (its own, suppressed by library name
# in tests/lsan.supp) need whole stacks to be named, and unwinding every
# allocation so makes one run take 10 s. So leaks are checked in the runs
# given to leak_checked (each case has some: a reduction, a gather, the
# failure paths); every other run still has every other ASan and UBSan
# check. Open MPI's plugins stay loaded (tests/CMakeLists.txt), so that
# their frames have names.
ASAN_OPTIONS_LEAKS=""
if [ -n "${ASAN_OPTIONS:-}" ]; then
    ASAN_OPTIONS_LEAKS="$ASAN_OPTIONS:detect_leaks=1:fast_unwind_on_malloc=0"
    export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
fi
leak_checked() { # leak_checked CMD...: CMD with leak checks under ASan
    if [ -n "$ASAN_OPTIONS_LEAKS" ]; then
        ASAN_OPTIONS="$ASAN_OPTIONS_LEAKS" "$@"
    else
        "$@"
    fi
}

mpi() { # mpi R ARGS...: vecscore-mpi on R ranks, captured as run does
    local ranks=$1
    shift
    LAST_CMD="(mpirun -n $ranks vecscore-mpi) $*"
    ${MPI_WRAP:-} "$MPIEXEC" --oversubscribe -n "$ranks" "$VECSCORE_TEST_MPI" "$@" >stdout.txt \
        2>stderr.txt
    RC=$?
}

# same_as_one "RANKS" SUBCOMMAND ARGS...: vecscore SUBCOMMAND ARGS, then
# vecscore-mpi on each of RANKS; every out.* file and stdout must be
# byte-identical to the one-process run's.
same_as_one() {
    local rank_list=$1 ranks f
    shift
    rm -rf one && mkdir one
    run "$@" --quiet
    expect_exit 0
    mv stdout.txt one/stdout
    for f in out.*; do [ -e "$f" ] && mv "$f" one/; done
    for ranks in $rank_list; do
        mpi "$ranks" "$@" --quiet
        expect_exit 0
        cmp -s stdout.txt one/stdout || fail "stdout differs with $ranks ranks"
        for f in one/out.*; do
            [ -e "$f" ] || continue
            expect_same "$f" "${f#one/}"
        done
        rm -f out.*
    done
}

# Fixtures: 1001 x 24 random rows (splits of 250/251, 333/334, 500/501) and
# 13 queries; ties.fvecs, 9 rows of dimension 2 with equal rows on both sides
# of every 2-, 3- and 4-way boundary, a zero row, a NaN row and an inf row;
# tq.fvecs, 4 queries (one zero, one with a NaN).
mpi_fixtures() {
    "$VECSCORE" gen --count 1001 --dim 24 --seed 7 -o base.fvecs || fail "gen base"
    "$VECSCORE" gen --count 13 --dim 24 --seed 8 -o q.fvecs || fail "gen queries"
    local row v
    for row in "1 1" "1 1" "0 0" "1 1" "nan 1" "1 1" "2 0.5" "1 1" "inf 1"; do
        le32 2
        for v in $row; do f32 "$v"; done
    done >ties.fvecs
    for row in "1 1" "0 0" "nan 0" "0.5 -1"; do
        le32 2
        for v in $row; do f32 "$v"; done
    done >tq.fvecs
}
