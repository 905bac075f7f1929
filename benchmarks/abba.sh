#!/bin/bash
# A/B-test a change to the training executor inside one process (see abba_harness.c).
#
#   benchmarks/abba.sh PATCH [threads] [quads]
#
# PATCH is a program run in a scratch copy of the repository's csrc/ (its working directory
# holds csrc/), which edits the C sources so that version B runs where the global `annc_ab`
# is nonzero (`int annc_ab;` is defined and declared in internal.h for it); PATCH=null
# measures the harness's own bias (no change). The script builds the copy as CMake builds the
# library (AVX2 files with -mavx2 -mfma, dispatch at run time), checks that A and B end with
# the same weights on 1 and 2 threads, then prints the ABBA ratio. XFILE=path (60,000 x 784
# float32) uses the real rows, e.g. numpy: (x / 255).astype(np.float32).tofile(path).
set -euo pipefail
patch=${1:?usage: abba.sh PATCH [threads] [quads]}
threads=${2:-2}
quads=${3:-450}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/csrc" "$work/csrc"
sed -i 's|^#define ANNC_INTERNAL_H|#define ANNC_INTERNAL_H\nextern int annc_ab;|' "$work/csrc/internal.h"
echo "int annc_ab;" > "$work/csrc/ab_switch.c"
if [ "$patch" != null ]; then
    patch=$(cd "$(dirname "$patch")" && pwd)/$(basename "$patch")
    (cd "$work" && "$patch")
fi
cc=${CC:-gcc}
for f in "$work"/csrc/*.c; do
    extra=""
    case $(basename "$f") in *avx2*) extra="-mavx2 -mfma" ;; esac
    $cc -O3 -fno-math-errno -std=gnu11 -DANNC_HAVE_AVX2_KERNELS=1 -fopenmp -fPIC $extra \
        -I"$work/csrc" -c "$f" -o "${f%.c}.o" &
done
wait
$cc -O2 "$root/benchmarks/abba_harness.c" -I"$work/csrc" -I"$root/benchmarks" "$work"/csrc/*.o \
    -fopenmp -lm \
    -o "$work/abba_harness"
for t in 1 2; do
    a=$(AB=0 "$work/abba_harness" $t | awk '{print $6}')
    b=$(AB=1 "$work/abba_harness" $t | awk '{print $6}')
    echo "bits on $t thread(s): A $a, B $b $([ "$a" = "$b" ] && echo '(same)' || echo '(DIFFERENT)')"
done
"$work/abba_harness" "$threads" "$quads"
