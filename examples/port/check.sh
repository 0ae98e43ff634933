#!/bin/sh
# check.sh - boot examples/port/hello.c on every machine and check it.
#
# Run by `make -f examples/port/port.mk port-check` (which passes the QEMU
# command lines in PORT_QEMU_<arch>). For each architecture:
#   1. boot with a virtio-blk-pci disk (plus a virtio-blk-device and a
#      virtio-net-device on the machines with virtio-mmio), send 'x':
#      hello must greet, list the devices with their BARs, echo the byte,
#      report no failure, and QEMU must exit by itself with status 0;
#   2. boot again and send '3': QEMU's exit status must carry the code
#      (3 on riscv and arm, (3 << 1) | 1 = 7 on x86_64 and i686);
#   3. boot again and send 't': the trap handler must report the
#      exception and exit with code 99 (x86: 199).
# Every QEMU runs under `timeout`, so nothing outlives the check.
set -u
BUILD=${PORT_BUILD:-build}
ARCHES=${PORT_ARCHES:-riscv64 aarch64 x86_64 riscv32 aarch64be armv7 i686 armv7be}
DIR=$BUILD/port-check
mkdir -p "$DIR"
failed=0

say() { printf '%s\n' "$*"; }
bad() { say "FAIL $*"; failed=$((failed + 1)); }

qemu_cmd() {   # the PORT_QEMU_<arch> variable from port.mk
    eval "printf '%s' \"\${PORT_QEMU_$1:-}\""
}

# boot ARCH KEY OUT EXTRA...: run hello with KEY sent to its UART, output
# in OUT (stderr in OUT.stderr); sets $status to QEMU's exit status.
boot() {
    q=$(qemu_cmd "$1")
    [ -n "$q" ] || { say "PORT_QEMU_$1 is not set (run through port.mk)"; exit 2; }
    b_kernel=$BUILD/$1/hello.elf b_key=$2 b_out=$3
    shift 3
    # shellcheck disable=SC2086 # word splitting of the command line is wanted
    printf '%s' "$b_key" | timeout -s KILL 60 $q -kernel "$b_kernel" "$@" >"$b_out" 2>"$b_out.stderr"
    status=$?
}

for arch in $ARCHES; do
    img0=$DIR/$arch-d0.img img1=$DIR/$arch-d1.img
    : >"$img0" && truncate -s 1M "$img0"
    : >"$img1" && truncate -s 1M "$img1"
    devs="-drive if=none,id=d0,file=$img0,format=raw -device virtio-blk-pci,drive=d0"
    want_mmio=0 x86=0
    case $arch in x86_64 | i686) x86=1 ;; esac
    if [ "$x86" = 0 ]; then
        devs="$devs -drive if=none,id=d1,file=$img1,format=raw -device virtio-blk-device,drive=d1"
        devs="$devs -netdev hubport,id=n1,hubid=0 -device virtio-net-device,netdev=n1"
        want_mmio=2
    fi
    out=$DIR/$arch.txt
    # shellcheck disable=SC2086
    boot "$arch" x "$out" $devs
    grep -q "^hello from $arch" "$out" || bad "$arch: no greeting"
    grep -q "^got 'x'" "$out" || bad "$arch: byte not echoed"
    grep -q "1af4:1001" "$out" || bad "$arch: virtio-blk-pci not listed"
    grep -q "BAR4 mem64" "$out" || bad "$arch: no 64-bit BAR listed"
    grep -q "^virtio-pci .*: type 2 .*VIRTIO_OK" "$out" || bad "$arch: virtio.h did not probe the PCI disk"
    n=$(grep -c "^virtio-mmio slot .*version" "$out")
    [ "$n" -eq "$want_mmio" ] || bad "$arch: $n virtio-mmio devices, expected $want_mmio"
    grep -q "FAIL" "$out" && bad "$arch: hello reported a failure"
    [ "$status" -eq 0 ] || bad "$arch: exit status $status, expected 0"
    tail -n 1 "$out" | grep -q "^port: exit 0" || bad "$arch: last line is not 'port: exit 0'"
    say "--- $arch (status $status)"
    tr -d '\r' <"$out"

    boot "$arch" 3 "$DIR/$arch-3.txt"
    want=3
    [ "$x86" = 1 ] && want=7
    [ "$status" -eq "$want" ] || bad "$arch: exit code 3 gave status $status, expected $want"
    say "--- $arch: port_exit(3): QEMU status $status"
    boot "$arch" t "$DIR/$arch-t.txt"
    want=99
    [ "$x86" = 1 ] && want=199
    grep -q "^port: trap" "$DIR/$arch-t.txt" || bad "$arch: trap not reported"
    [ "$status" -eq "$want" ] || bad "$arch: trap gave status $status, expected $want"
    say "--- $arch: trap: $(grep "^port: trap" "$DIR/$arch-t.txt" | tr -d '\r'), QEMU status $status"
done

if [ "$failed" -eq 0 ]; then say "port-check: all passed"; else say "port-check: $failed failure(s)"; fi
[ "$failed" -eq 0 ]
