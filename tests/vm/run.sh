#!/bin/sh
# `make vmtest`: the core integration tests on Debian 12's own kernel (6.1).
# Builds under build/vm/ what the boot needs -- the generic amd64 kernel
# package (downloaded once, then cached), its modules indexed with depmod,
# and an initramfs of busybox-static plus the virtio/9p modules -- then boots
# it in QEMU on the host's / shared read-only over 9p, with build/vm/out
# shared read-write for the results. tests/vm/init.sh runs in the guest.
# The exit code is the guest's pytest exit code; a guest that never reports
# one (hung, crashed, timed out) fails the run.
#
# Environment: VMTEST_K (pytest -k expression), VMTEST_FILES (test files,
# default tests/test_leaks.py tests/test_gc.py), VMTEST_TIMEOUT (seconds for
# the whole boot, default 900), VMTEST_ACCEL (kvm or tcg; default: kvm only
# when the CPU has vmx/svm and /dev/kvm opens), VMTEST_KERNEL (a package
# name, default: the newest linux-image-6.1.0-NN-amd64-unsigned apt knows),
# VMTEST_CMD (a shell command the guest runs in its copy instead of pytest,
# to look into a failure; its exit code is returned the same way).
set -eu
cd "$(dirname "$0")/../.."
REPO=$(pwd)
VM=$REPO/build/vm
OUTDIR=$VM/out
K=${VMTEST_K:-}
[ -n "$K" ] || K='debian and (a_registry or c_deep or cycle_site_ranked_first)'
FILES=${VMTEST_FILES:-tests/test_leaks.py tests/test_gc.py}
TIMEOUT=${VMTEST_TIMEOUT:-900}
MODS="virtio_pci 9pnet_virtio 9p"

say() { echo "vmtest: $*"; }
die() { echo "vmtest: $*" >&2; exit 1; }

case $REPO in
/tmp/* | /run/* | /proc/* | /sys/* | /dev/*)
	die "$REPO: the guest mounts its own /tmp, /run, /proc, /sys and /dev" ;;
esac
[ -x "$REPO/pyleakbpf" ] || die "$REPO/pyleakbpf is not built (run make)"
mkdir -p "$VM"
t0=$(date +%s)

# --- the kernel package: newest apt knows, downloaded only when not cached
pkg=${VMTEST_KERNEL:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' |
		awk '{print $1}' | sort -V | tail -n 1)
fi
if [ -z "$pkg" ]; then
	# apt knows none (no package lists): fall back on the newest cached one
	deb=$(ls "$VM"/linux-image-6.1.0-*-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
	[ -n "$deb" ] || die "apt knows no linux-image-6.1.0-NN-amd64-unsigned (apt-get update?)"
	pkg=$(basename "$deb" | cut -d_ -f1)
fi
deb=$(ls "$VM/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
	say "downloading $pkg"
	(cd "$VM" && apt-get download -q "$pkg") || die "apt-get download $pkg failed"
	deb=$(ls "$VM/${pkg}"_*.deb | sort -V | tail -n 1)
fi
kver=${pkg#linux-image-}
kver=${kver%-unsigned}
KDIR=$VM/kernel-$kver

# --- unpacked once per package, modules indexed with depmod
if [ ! -e "$KDIR/.done" ]; then
	say "unpacking $(basename "$deb")"
	rm -rf "$KDIR"
	dpkg-deb -x "$deb" "$KDIR"
	depmod -b "$KDIR" "$kver"
	touch "$KDIR/.done"
fi
VMLINUZ=$KDIR/boot/vmlinuz-$kver
[ -f "$VMLINUZ" ] || die "$VMLINUZ missing in $deb"

# --- initramfs: busybox, the 9p modules and what they need, init.sh as /init
INITRD=$VM/initramfs-$kver.cpio.gz
if [ ! -f "$INITRD" ] || [ "$REPO/tests/vm/init.sh" -nt "$INITRD" ] ||
   [ "$0" -nt "$INITRD" ]; then
	say "building $(basename "$INITRD")"
	IR=$VM/initramfs
	rm -rf "$IR"
	mkdir -p "$IR/bin" "$IR/dev" "$IR/proc" "$IR/sys" "$IR/newroot" \
		"$IR/lib/modules/$kver"
	cp /bin/busybox "$IR/bin/busybox"
	ln -s busybox "$IR/bin/sh"
	cp "$REPO/tests/vm/init.sh" "$IR/init"
	chmod 755 "$IR/init"
	md=$KDIR/lib/modules/$kver
	# modules.dep lines are "path: dep dep ..."; collect the closure
	files=""
	for m in $MODS; do
		line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$md/modules.dep") ||
			die "module $m not in $md/modules.dep"
		files="$files $(echo "$line" | tr -d :)"
	done
	for f in $(echo $files | tr ' ' '\n' | sort -u); do
		mkdir -p "$IR/lib/modules/$kver/$(dirname "$f")"
		cp "$md/$f" "$IR/lib/modules/$kver/$f"
	done
	cp "$md"/modules.dep "$md"/modules.alias "$md"/modules.builtin \
		"$IR/lib/modules/$kver/" 2>/dev/null || true
	(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
fi

# --- the accelerator: KVM only where it works (the CPU has vmx or svm)
accel=${VMTEST_ACCEL:-}
if [ -z "$accel" ]; then
	accel=tcg
	if grep -qw -e vmx -e svm /proc/cpuinfo &&
	   [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel=kvm
	fi
fi
case $accel in
kvm)	ACCEL="-accel kvm -cpu host"; APPEND="" ;;
# under TCG the kernel falls back on the emulated HPET, whose every read
# (clock_gettime leaves the vDSO for a syscall) is slow: trust the TSC
tcg)	ACCEL="-accel tcg,thread=multi"; APPEND="tsc=reliable clocksource=tsc" ;;
*)	die "VMTEST_ACCEL=$accel: kvm or tcg" ;;
esac

# --- what the guest runs, read by init.sh through build/vm/out
rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
{
	echo "VM_REPO='$REPO'"
	echo "VM_K='$(echo "$K" | sed "s/'/'\\\\''/g")'"
	echo "VM_FILES='$FILES'"
	echo "VM_CMD='$(echo "${VMTEST_CMD:-}" | sed "s/'/'\\\\''/g")'"
} > "$OUTDIR/params"
LOG=$VM/console.log
t1=$(date +%s)
say "prepared in $((t1 - t0)) s; booting $kver ($accel, timeout ${TIMEOUT}s), log $LOG"

set +e
{
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 $ACCEL -smp 2 -m 3G \
		-nographic -no-reboot \
		-kernel "$VMLINUZ" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 quiet $APPEND" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$OUTDIR",mount_tag=vmout,security_model=none \
		< /dev/null 2>&1
	echo $? > "$VM/qemu.rc"
} | tee "$LOG"
qrc=$(cat "$VM/qemu.rc")
set -e
t2=$(date +%s)

if [ ! -f "$OUTDIR/rc" ]; then
	why="qemu exit code $qrc"
	[ "$qrc" != 124 ] && [ "$qrc" != 137 ] || why="timed out after ${TIMEOUT}s"
	say "FAILED: the guest reported no pytest exit code ($why," \
	    "$((t2 - t1)) s); see $LOG"
	exit 1
fi
rc=$(cat "$OUTDIR/rc")
say "kernel $(cat "$OUTDIR/uname" 2>/dev/null), pytest exit code $rc," \
    "boot+tests $((t2 - t1)) s, total $((t2 - t0)) s"
exit "$rc"
