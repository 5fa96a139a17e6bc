# --storage f16 on a '<f2' .npy BASE: the float16 bits go to the library as
# they are (vs_reader_read_f16, then vs_corpus_create_from_half), with no
# float32 copy of BASE: topk and score print exactly what a float32 .npy of
# the same values gives, and --report says base_read=f16 with a BASE buffer
# of 2 bytes per element (4 for the float32 file).
f16() {
    case $1 in
    0) printf '\x00\x00' ;;
    1) printf '\x00\x3c' ;;
    -1) printf '\x00\xbc' ;;
    2) printf '\x00\x40' ;;
    0.5) printf '\x00\x38' ;;
    *) fail "f16: no bytes for $1" ;;
    esac
}
values=(0 1 -1 2 0.5)
rows=300
dim=8
npy base16.npy '<f2' False "($rows, $dim)" 0
npy base32.npy '<f4' False "($rows, $dim)" 0
npy q.npy '<f4' False "(5, $dim)" 0
RANDOM=7
for ((e = 0; e < rows * dim; e++)); do
    v=${values[RANDOM % 5]} # few values: many exact ties
    f16 "$v" >>base16.npy
    f32 "$v" >>base32.npy
done
for ((e = 0; e < 5 * dim; e++)); do
    f32 "${values[RANDOM % 5]}" >>q.npy
done

for metric in dot cosine l2; do
    for mode in "" --approx; do
        run topk -q q.npy -b base32.npy -k 10 --metric $metric --storage f16 $mode -o ref.tsv --report
        expect_exit 0
        expect_stderr_match '^base_read=f32$'
        expect_stderr_match "^base_buffer_bytes=$((rows * dim * 4))$"
        run topk -q q.npy -b base16.npy -k 10 --metric $metric --storage f16 $mode -o got.tsv --report
        expect_exit 0
        expect_stderr_match '^base_read=f16$'
        expect_stderr_match "^base_buffer_bytes=$((rows * dim * 2))$"
        expect_stderr_match '^storage=1$'
        expect_same ref.tsv got.tsv
        # chunks of 7 rows: the same answer, read 7 rows of float16 bits at a time
        run topk -q q.npy -b base16.npy -k 10 --metric $metric --storage f16 $mode --chunk 7 -o got.tsv --report
        expect_exit 0
        expect_stderr_match "^base_buffer_bytes=$((7 * dim * 2))$"
        expect_same ref.tsv got.tsv
    done
    run score -q q.npy -b base32.npy --metric $metric --storage f16 --approx -o ref.npy
    expect_exit 0
    run score -q q.npy -b base16.npy --metric $metric --storage f16 --approx -o got.npy --report
    expect_exit 0
    expect_stderr_match '^base_read=f16$'
    expect_same ref.npy got.npy
done

# another storage widens the float16 values to float32 as before
run topk -q q.npy -b base16.npy -k 10 --metric dot --storage i8 -o got.tsv --report
expect_exit 0
expect_stderr_match '^base_read=f32$'
run topk -q q.npy -b base32.npy -k 10 --metric dot --storage i8 -o ref.tsv
expect_same ref.tsv got.tsv

# --reject-nonfinite reads the bits too: an infinite float16 is named
cp base16.npy bad16.npy
printf '\x00\x7c' | dd of=bad16.npy bs=1 seek=$(($(stat -c %s bad16.npy) - (rows * dim - 3 * dim - 5) * 2)) conv=notrunc status=none
run topk -q q.npy -b bad16.npy -k 10 --storage f16 --reject-nonfinite -o bad.tsv
expect_exit 2
expect_stderr_match 'bad16.npy: row 3, element 5 is infinite; non-finite values are rejected'
expect_no_file bad.tsv
