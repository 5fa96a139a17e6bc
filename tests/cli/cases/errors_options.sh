# Malformed options exit 1 ("bad option") before any file is written, and the
# message names what is wrong: device selector indices that would wrap or
# carry a sign, blank or junk; numeric VECSCORE_* variables with a sign,
# blanks, junk or overflow; a staging arena too small for the OpenCL device.
# Then the caches: a FIFO at an entry path or a directory others can write
# does not block or get used, and the run still succeeds.
fixtures
check_option() {
    local pattern=$1
    shift
    run "$@"
    expect_exit 1
    expect_stderr_match "$pattern"
    expect_no_file out.ivecs out.fvecs
    expect_no_temp
}
topk_args=(topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs --scores out.fvecs)

for sel in 'opencl:4294967296:0' 'opencl:0:4294967296' 'opencl:-1:0' 'opencl:+0:0' \
    'opencl: 0:0' 'opencl:0:0 ' 'opencl:0:0x' 'opencl:0x0:0' 'opencl:0' 'opencl:0:0:0' \
    'opencl::0' 'opencl:16:0' 'opencl:0:64' 'opencl:name='; do
    sel_re=$(printf '%s' "$sel" | sed 's/[][\.*^$+?(){}|]/\\&/g')
    check_option "^vecscore topk: bad option: device selector '$sel_re' is invalid: .*\(VS_ERR_INVALID_ARGUMENT\)$" \
        "${topk_args[@]}" --device "$sel"
done
check_option "platform index '4294967296': it is out of range" "${topk_args[@]}" --device opencl:4294967296:0
check_option "device index '0 ': it has a blank after the number" "${topk_args[@]}" --device 'opencl:0:0 '
VECSCORE_DEVICE='opencl:1:-0' check_option "bad option: environment variable VECSCORE_DEVICE: device selector 'opencl:1:-0' is invalid: device index '-0': it has a sign" \
    "${topk_args[@]}"

for var in VECSCORE_ARENA_BYTES VECSCORE_SCRATCH_BYTES VECSCORE_THREADS VECSCORE_VERIFY VECSCORE_LOG_LEVEL; do
    for value in ' -1' '-1' '+1' ' 1' '1 ' '1x' '0x10' '' '99999999999999999999'; do
        export "$var=$value"
        value_re=$(printf '%s' "$value" | sed 's/[][\.*^$+?(){}|]/\\&/g')
        check_option "bad option: environment variable $var has an invalid value '$value_re': " \
            "${topk_args[@]}"
        unset "$var"
    done
done
VECSCORE_ARENA_BYTES=' -1' check_option "VECSCORE_ARENA_BYTES has an invalid value ' -1': it starts with a blank" "${topk_args[@]}"
VECSCORE_SCRATCH_BYTES='17179869184G' check_option "VECSCORE_SCRATCH_BYTES has an invalid value '17179869184G': it is too large" "${topk_args[@]}"
VECSCORE_THREADS='4097' check_option "VECSCORE_THREADS has an invalid value '4097': it is out of range" "${topk_args[@]}"

# The rest needs an OpenCL device (the arena minimum, the program cache). A
# build without OpenCL (VECSCORE_TEST_OPENCL=0, tests/CMakeLists.txt) checks
# instead that asking for one is the device error that says so.
if [ "${VECSCORE_TEST_OPENCL:-1}" = 0 ]; then
    run "${topk_args[@]}" --device opencl
    expect_exit 3
    expect_stderr_match "cannot use device 'opencl': .*built without OpenCL"
    expect_no_file out.ivecs out.fvecs
    return 0
fi

# The arena: the message says it is too small and what the minimum is.
VECSCORE_ARENA_BYTES=64 check_option "bad option: device 'opencl': the staging arena .* of 64 bytes is too small for OpenCL device .*: it needs at least [0-9]+ bytes" \
    "${topk_args[@]}" --device opencl
need=$(sed -n 's/.*it needs at least \([0-9]*\) bytes.*/\1/p' stderr.txt)
[ -n "$need" ] || fail "no minimum in the message"
VECSCORE_ARENA_BYTES=$((need - 1)) check_option "too small" "${topk_args[@]}" --device opencl
VECSCORE_ARENA_BYTES=$need run "${topk_args[@]}" --device opencl
expect_exit 0
run topk -q q.fvecs -b base.fvecs -k 3 -o ref.ivecs --device cpu
expect_exit 0
expect_same out.ivecs ref.ivecs
rm -f out.ivecs out.fvecs

# Caches: a FIFO at the program cache entry is neither opened blocking nor used.
mkdir -m 700 cache
VECSCORE_CACHE_DIR=$PWD/cache run "${topk_args[@]}" --device opencl
expect_exit 0
entry=$(ls cache/vecscore-*.clbin) || fail "no program cache entry written"
[ "$(stat -c %a "$entry")" = 600 ] || fail "cache entry is not 0600"
[ "$(stat -c %a cache)" = 700 ] || fail "cache directory is not 0700"
rm -f "$entry" out.ivecs out.fvecs
mkfifo "$entry"
# (timeout: a blocking open fails the case instead of hanging it)
LAST_CMD="${topk_args[*]} --device opencl (FIFO entry)"
VECSCORE_CACHE_DIR=$PWD/cache timeout 120 "$VECSCORE" "${topk_args[@]}" --device opencl >stdout.txt 2>stderr.txt
RC=$?
expect_exit 0
expect_stderr_match "warning: opencl: program cache: entry .*vecscore-.*\.clbin is not used: it is a FIFO, not a regular file"
[ -f "$entry" ] && [ ! -p "$entry" ] || fail "the rebuilt entry did not replace the FIFO"
expect_same out.ivecs ref.ivecs
# A cache directory its group can write is not used at all (one warning).
chmod 770 cache
rm -f out.ivecs out.fvecs
VECSCORE_CACHE_DIR=$PWD/cache run "${topk_args[@]}" --device opencl
expect_exit 0
expect_stderr_match "warning: cache: .*/cache is not private: it is writable by its group \(mode 0770\)"
[ "$(grep -c 'not private' stderr.txt)" = 1 ] || fail "expected one warning"
expect_same out.ivecs ref.ivecs
