#!/bin/sh
# The guest side of `make vmtest` (tests/vm/run.sh), in two stages.
# Stage 1, as /init of the initramfs (busybox, PID 1): loads the virtio/9p
# modules, mounts the host's / read-only and build/vm/out read-write over
# 9p, binds /proc, /sys and /dev into it, runs stage 2 chrooted there, then
# powers off. Stage 2 (`init.sh guest`, the host's own /bin/sh): mounts
# tracefs, debugfs and bpffs, copies the tests and the pyleakbpf binary to
# the guest's tmpfs (the repository is read-only here), runs pytest on the
# chosen tests and leaves its output and exit code in build/vm/out.

OUT=/run/vmout		# build/vm/out of the host, read-write

# a line for the host log, stamped with the guest's uptime
note() {
	echo "vmtest guest [$(cut -d' ' -f1 /proc/uptime) s]: $*"
}

stage2() {
	set -u
	. $OUT/params
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
	export PYTHONDONTWRITEBYTECODE=1 CI=1
	mount -t tracefs tracefs /sys/kernel/tracing
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t bpf bpf /sys/fs/bpf
	uname -r > $OUT/uname
	note "kernel $(uname -r) ($(uname -v)), $(nproc) CPUs"
	work=/tmp/pyleakbpf
	mkdir -p "$work"
	cp -a "$VM_REPO/pyleakbpf" "$work/"
	(cd "$VM_REPO" && tar --exclude=output --exclude=__pycache__ -cf - tests) |
		(cd "$work" && tar -xf -)
	cd "$work" || exit 1
	note "tests and binary copied to $work"
	start=$(date +%s)
	if [ -n "$VM_CMD" ]; then
		note "running: $VM_CMD"
		{
			sh -c "$VM_CMD" 2>&1
			echo $? > /tmp/pytest.rc
		} | tee $OUT/cmd.log
		rc=$(cat /tmp/pytest.rc)
		note "command exit code $rc in $(( $(date +%s) - start )) s"
		echo "$rc" > $OUT/rc
		return
	fi
	note "pytest -k '$VM_K' $VM_FILES"
	{
		/usr/bin/python3 -m pytest -p no:cacheprovider -ra -v -k "$VM_K" \
			$VM_FILES 2>&1
		echo $? > /tmp/pytest.rc
	} | tee $OUT/pytest.log
	rc=$(cat /tmp/pytest.rc)
	note "pytest exit code $rc in $(( $(date +%s) - start )) s"
	cp -a tests/output $OUT/ 2>/dev/null
	echo "$rc" > $OUT/rc
}

stage1() {
	export PATH=/bin
	/bin/busybox --install -s /bin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs dev /dev
	modprobe -a virtio_pci 9pnet_virtio 9p || echo "vmtest init: modprobe failed"
	if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro hostroot /newroot; then
		echo "vmtest init: cannot mount the host's /"
		poweroff -f
	fi
	for d in proc sys dev; do
		mount --bind /$d /newroot/$d
	done
	mount -t tmpfs tmpfs /newroot/tmp
	mount -t tmpfs tmpfs /newroot/run
	mount -t tmpfs tmpfs /newroot/dev/shm 2>/dev/null
	mkdir -p /newroot$OUT
	if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,rw vmout /newroot$OUT; then
		echo "vmtest init: cannot mount build/vm/out"
		poweroff -f
	fi
	. /newroot$OUT/params
	chroot /newroot /bin/sh "$VM_REPO/tests/vm/init.sh" guest
	sync
	umount /newroot$OUT
	poweroff -f
}

if [ "${1:-}" = guest ]; then
	stage2
else
	stage1
fi
