// SPDX-License-Identifier: GPL-2.0
/* The fake address space and input reader of fakemem.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "fakemem.h"
#include "memread.h"
#include "pyversions.h"

#define UIO_MAXIOV_	1024

struct seg {
	uint64_t addr;
	const uint8_t *data;
	size_t len;
};

static struct seg segs[FM_MAX_SEGS];
static unsigned nsegs;
static bool sorted;		/* segments added in address order, disjoint */
static uint64_t holes[FM_MAX_HOLES];
static unsigned nholes;

void fm_reset(void)
{
	nsegs = 0;
	nholes = 0;
	sorted = true;
}

void fm_add(uint64_t addr, const void *data, size_t len)
{
	if (!len || nsegs == FM_MAX_SEGS || addr + len < addr)
		return;
	if (nsegs && addr < segs[nsegs - 1].addr + segs[nsegs - 1].len)
		sorted = false;
	segs[nsegs++] = (struct seg){ addr, data, len };
}

void fm_unmap_page(uint64_t addr)
{
	if (nholes < FM_MAX_HOLES)
		holes[nholes++] = addr & ~(FM_PAGE - 1);
}

/* The first segment that may hold bytes at or after addr. */
static unsigned first_seg(uint64_t addr)
{
	unsigned lo = 0, hi = nsegs;

	if (!sorted)
		return 0;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (segs[mid].addr + segs[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool fm_page_mapped(uint64_t addr)
{
	uint64_t pg = addr & ~(FM_PAGE - 1);

	for (unsigned i = 0; i < nholes; i++)
		if (holes[i] == pg)
			return false;
	for (unsigned i = first_seg(pg); i < nsegs; i++) {
		uint64_t lo = segs[i].addr & ~(FM_PAGE - 1);
		uint64_t hi = segs[i].addr + segs[i].len;

		if (pg >= lo && pg < hi)
			return true;
		if (sorted && lo > pg)
			break;
	}
	return false;
}

/* One page's part [addr, addr + len), known mapped. */
static void copy_in_page(uint64_t addr, uint8_t *dst, size_t len)
{
	memset(dst, 0, len);
	for (unsigned i = first_seg(addr); i < nsegs; i++) {
		uint64_t lo = segs[i].addr > addr ? segs[i].addr : addr;
		uint64_t end = segs[i].addr + segs[i].len;
		uint64_t hi = end < addr + len ? end : addr + len;

		if (lo < hi)
			memcpy(dst + (lo - addr), segs[i].data + (lo - segs[i].addr), hi - lo);
		if (sorted && segs[i].addr >= addr + len)
			break;
	}
}

size_t fm_copy(uint64_t addr, void *dst, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t a = addr + done;
		size_t chunk = FM_PAGE - (a & (FM_PAGE - 1));

		if (a < addr || !fm_page_mapped(a))	/* wrapped, or a fault */
			break;
		if (chunk > len - done)
			chunk = len - done;
		copy_in_page(a, (uint8_t *)dst + done, chunk);
		done += chunk;
	}
	return done;
}

/*
 * The kernel's semantics: remote iovecs in order, filling the local ones
 * in order; the first fault ends the transfer, which returns the bytes
 * copied so far, or -1/EFAULT if none were.
 */
ssize_t process_vm_readv(pid_t pid, const struct iovec *local, unsigned long liovcnt,
			 const struct iovec *remote, unsigned long riovcnt,
			 unsigned long flags)
{
	size_t total = 0, lsum = 0, rsum = 0, li = 0, loff = 0;

	if (liovcnt > UIO_MAXIOV_ || riovcnt > UIO_MAXIOV_)
		fz_fail("process_vm_readv: %lu local, %lu remote iovecs: over UIO_MAXIOV, "
			"the kernel would fail it with EINVAL", liovcnt, riovcnt);
	if (flags) {
		errno = EINVAL;
		return -1;
	}
	for (unsigned long i = 0; i < liovcnt; i++)
		lsum += local[i].iov_len;
	for (unsigned long i = 0; i < riovcnt; i++)
		rsum += remote[i].iov_len;
	if ((ssize_t)lsum < 0 || (ssize_t)rsum < 0) {
		errno = EINVAL;
		return -1;
	}
	if (pid != FM_PID) {
		errno = ESRCH;
		return -1;
	}
	for (unsigned long r = 0; r < riovcnt; r++) {
		uint64_t ra = (uintptr_t)remote[r].iov_base;
		size_t rlen = remote[r].iov_len, roff = 0;

		while (roff < rlen) {
			size_t n, got;

			while (li < liovcnt && loff == local[li].iov_len) {
				li++;
				loff = 0;
			}
			if (li == liovcnt)
				return total;
			n = rlen - roff;
			if (n > local[li].iov_len - loff)
				n = local[li].iov_len - loff;
			got = fm_copy(ra + roff, (uint8_t *)local[li].iov_base + loff, n);
			total += got;
			roff += got;
			loff += got;
			if (got < n) {
				if (!total) {
					errno = EFAULT;
					return -1;
				}
				return total;
			}
		}
	}
	return total;
}

int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { .iov_base = buf, .iov_len = len };
	struct iovec r = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int mem_read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return mem_read(pid, addr, v, sizeof(*v));
}

static uint64_t fz_take(struct fz *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

uint8_t fz_u8(struct fz *in)
{
	return fz_take(in, 1);
}

uint16_t fz_u16(struct fz *in)
{
	return fz_take(in, 2);
}

uint32_t fz_u32(struct fz *in)
{
	return fz_take(in, 4);
}

uint64_t fz_u64(struct fz *in)
{
	return fz_take(in, 8);
}

const struct pyversion *fz_pyversion(uint8_t sel)
{
	static const struct pyversion *known[32];
	static unsigned nknown;

	if (!nknown)
		for (unsigned minor = 0; minor < 32; minor++)
			if (pyversion_find(3, minor))
				known[nknown++] = pyversion_find(3, minor);
	if (!nknown)
		fz_fail("pyversions.c knows no version");
	/* seeds name their version by minor; other values pick any row */
	if (pyversion_find(3, sel))
		return pyversion_find(3, sel);
	return known[sel % nknown];
}

void fz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz check failed: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}
