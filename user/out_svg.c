// SPDX-License-Identifier: GPL-2.0
/*
 * An interactive SVG flame graph, self-contained: the folded stacks of a
 * profile merged into one tree (root at the bottom, children in name
 * order), drawn as <g> frames, plus a short script for hover details,
 * click-to-zoom and regex search. Nothing is loaded from elsewhere, so the
 * file can be mailed around and opened from disk.
 *
 * Each frame carries its offset, value and depth (data-o, data-v, data-d)
 * in the profile's own units, so the script lays frames out again exactly
 * when zooming instead of scaling rounded pixels.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "fmt.h"
#include "profile.h"

#define FG_WIDTH	1200	/* px, the whole image */
#define FG_XPAD		10	/* px left and right of the frames */
#define FG_TOP		72	/* px for title, subtitle, note, controls */
#define FG_BOTTOM	28	/* px for the status line */
#define FG_FRAME_H	16	/* px per level, one of them a gap */
#define FG_FONT		12	/* px, monospace, so labels fit by counting */
#define FG_CHAR_W	7.4	/* px per character of FG_FONT monospace, rounded up */
#define FG_MIN_SHARE	0.001	/* frames narrower than this are not drawn */

struct fnode {
	char *name;
	uint64_t value;
	struct fnode *child, *next;	/* children in name order */
};

struct fg {
	FILE *out;
	const struct flamegraph_opts *o;
	bool bytes;
	uint64_t total;
	size_t stacks;			/* samples drawn from */
	int max_depth;			/* of the frames drawn; the root is 0 */
	size_t elided;			/* frames too narrow to draw */
	int height;
};

/* Like strcmp(a, b) with b given as len bytes. */
static int namecmp(const char *a, const char *b, size_t len)
{
	int c = strncmp(a, b, len);

	return c ? c : a[len] != 0;
}

/* The child of parent named name[0..len), added in name order if new. */
static struct fnode *child_get(struct fnode *parent, const char *name, size_t len)
{
	struct fnode **pp, *c;
	int cmp = 1;

	for (pp = &parent->child; *pp; pp = &(*pp)->next) {
		cmp = namecmp((*pp)->name, name, len);
		if (cmp >= 0)
			break;
	}
	if (*pp && !cmp)
		return *pp;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strndup(name, len))) {
		free(c);
		return NULL;
	}
	c->next = *pp;
	*pp = c;
	return c;
}

/* Add value along the frames of folded (root first, ';' between). */
static int tree_add(struct fnode *root, const char *folded, uint64_t value)
{
	struct fnode *n = root;
	const char *p = folded;

	root->value += value;
	while (*p) {
		size_t len = strcspn(p, ";");

		n = child_get(n, p, len);
		if (!n)
			return -ENOMEM;
		n->value += value;
		p += len + (p[len] == ';');
	}
	return 0;
}

static void tree_free(struct fnode *n)
{
	while (n) {
		struct fnode *next = n->next;

		tree_free(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

static bool too_narrow(const struct fg *fg, const struct fnode *n)
{
	return (double)n->value < FG_MIN_SHARE * (double)fg->total;
}

static size_t tree_count(const struct fnode *n)
{
	size_t c = 0;

	for (; n; n = n->next)
		c += 1 + tree_count(n->child);
	return c;
}

/* Depth of the deepest frame drawn, and how many are not. */
static void measure(struct fg *fg, const struct fnode *n, int depth)
{
	if (depth > fg->max_depth)
		fg->max_depth = depth;
	for (const struct fnode *c = n->child; c; c = c->next) {
		if (too_narrow(fg, c))
			fg->elided += 1 + tree_count(c->child);
		else
			measure(fg, c, depth + 1);
	}
}

/*
 * Length of the valid UTF-8 character XML 1.0 allows at p, or 0: names
 * come from the target's memory and symbol tables, and one bad byte would
 * make the whole file unreadable to an XML parser.
 */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
	int n = *p < 0x80 ? 1 : *p < 0xc2 ? 0 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : *p < 0xf5 ? 4 : 0;

	if (n == 1)
		return *p >= 0x20 || *p == '\t' ? 1 : 0;
	if (!n || end - p < n)
		return 0;
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90) ||
	    (p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe))
		return 0;	/* overlong, surrogate, > U+10FFFF, U+FFFE/F */
	return n;
}

/* At most max characters of s, XML-escaped; '?' for what XML cannot hold. */
static void xml_put(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);

	for (; p < end && max; max--) {
		int n = utf8_len(p, end);

		if (n > 1) {
			fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		switch (n ? *p : '?') {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default: fputc(n ? *p : '?', out);
		}
		p++;
	}
}

static size_t utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t c = 0;

	for (; p < end; c++) {
		int n = utf8_len(p, end);

		p += n ? n : 1;
	}
	return c;
}

/* The name cut to what fits in w px, ".." marking a cut; the script does the same. */
static void put_label(FILE *out, const char *name, double w)
{
	long fit = (long)((w - 6) / FG_CHAR_W);

	if (fit < 3)
		return;
	if (utf8_chars(name) <= (size_t)fit) {
		xml_put(out, name, SIZE_MAX);
		return;
	}
	xml_put(out, name, fit - 2);
	fputs("..", out);
}

/*
 * Warm colours by function name (not line, so one function keeps its
 * colour), native frames blue and bracketed pseudo-frames such as
 * "[lost stack]" grey, so each kind can be told apart at a glance.
 */
static void frame_fill(const char *name, char *buf, size_t len)
{
	size_t n = strcspn(name, " ");
	uint32_t h = 2166136261u;	/* FNV-1a */
	int r, g, b;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	if (name[0] == '[') {
		r = g = b = 170 + h % 30;
	} else if (strchr(name, '!')) {
		r = 70 + h % 50;
		g = 140 + (h >> 8) % 70;
		b = 200 + (h >> 16) % 50;
	} else {
		r = 205 + h % 50;
		g = 70 + (h >> 8) % 140;
		b = 20 + (h >> 16) % 50;
	}
	snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
}

static char *fmt_value(const struct fg *fg, uint64_t v, char *buf, size_t len)
{
	char num[32];

	if (fg->bytes)
		return human_bytes(v, buf, len);
	snprintf(buf, len, "%s %s", thousands(v, num, sizeof(num)), v == 1 ? "block" : "blocks");
	return buf;
}

static void draw(struct fg *fg, const struct fnode *n, uint64_t off, int depth)
{
	const double w = FG_WIDTH - 2 * FG_XPAD;
	double x = FG_XPAD + w * off / fg->total, fw = w * n->value / fg->total;
	int y = fg->height - FG_BOTTOM - (depth + 1) * FG_FRAME_H;
	char val[64], fill[32];

	fprintf(fg->out, "<g class=\"f\" data-o=\"%" PRIu64 "\" data-v=\"%" PRIu64
		"\" data-d=\"%d\"><title>", off, n->value, depth);
	xml_put(fg->out, n->name, SIZE_MAX);
	frame_fill(n->name, fill, sizeof(fill));
	fprintf(fg->out, " (%s, %.2f%%)</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
		"height=\"%d\" rx=\"2\" fill=\"%s\"/><text x=\"%.2f\" y=\"%d\">",
		fmt_value(fg, n->value, val, sizeof(val)), 100.0 * n->value / fg->total,
		x, y, fw, FG_FRAME_H - 1, fill, x + 3, y + FG_FRAME_H - 4);
	put_label(fg->out, n->name, fw);
	fputs("</text></g>\n", fg->out);
	for (const struct fnode *c = n->child; c; c = c->next) {
		if (!too_narrow(fg, c))
			draw(fg, c, off, depth + 1);
		off += c->value;
	}
}

static const char fg_style[] =
	"text{font-family:monospace;font-size:12px;fill:#000}\n"
	".title{font-size:17px;text-anchor:middle}\n"
	".sub{text-anchor:middle;fill:#333}\n"
	".note{text-anchor:middle;fill:#777;font-size:11px}\n"
	".btn{cursor:pointer;fill:#0645ad}\n"
	".f{cursor:pointer}\n"
	".f:hover rect{stroke:#000;stroke-width:0.7}\n"
	".f text{pointer-events:none}\n"
	".anc rect{fill-opacity:0.55}\n"
	".hid{display:none}\n";

/*
 * Hover: details in the status line. Click: zoom to a frame (ancestors
 * full width, unrelated frames hidden). Search: regex highlight and the
 * share of the total matched, nested matches counted once. The URL hash
 * (#zoom=NAME&search=REGEX) drives the same actions for automated checks,
 * which read the outcome from data-* attributes of the <svg> element.
 */
static const char fg_script[] =
	"var svg = document.documentElement, frames = [], root = null, re = null;\n"
	"var hint = 'Click a frame to zoom, Ctrl-F or / to search';\n"
	"function el(id) { return document.getElementById(id); }\n"
	"function commas(v) {\n"
	"	var s = String(v), o = '';\n"
	"	for (; s.length > 3; s = s.slice(0, -3))\n"
	"		o = ',' + s.slice(-3) + o;\n"
	"	return s + o;\n"
	"}\n"
	"function fmt(v) {\n"
	"	var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;\n"
	"	if (!FG.bytes)\n"
	"		return commas(v) + (v === 1 ? ' block' : ' blocks');\n"
	"	for (; i < 4 && v >= 1024 - (i ? 0.05 : 0.5); i++)\n"
	"		v /= 1024;\n"
	"	return i ? v.toFixed(1) + ' ' + u[i] : Math.round(v) + ' B';\n"
	"}\n"
	"function label(name, w) {\n"
	"	var fit = Math.floor((w - 6) / FG.cw), c = Array.from(name);\n"
	"	if (fit < 3)\n"
	"		return '';\n"
	"	return c.length <= fit ? name : c.slice(0, fit - 2).join('') + '..';\n"
	"}\n"
	"function status(s) {\n"
	"	el('status').textContent = label(s, re ? FG.w * 0.6 : FG.w);\n"
	"}\n"
	"function place(f, x, w) {\n"
	"	var r = f.g.children[1], t = f.g.children[2];\n"
	"	r.setAttribute('x', (FG.x0 + x).toFixed(2));\n"
	"	r.setAttribute('width', w.toFixed(2));\n"
	"	t.setAttribute('x', (FG.x0 + x + 3).toFixed(2));\n"
	"	t.textContent = label(f.name, w);\n"
	"}\n"
	"function zoom(z) {\n"
	"	for (var f of frames) {\n"
	"		var anc = f.d < z.d && f.o <= z.o && f.o + f.v >= z.o + z.v;\n"
	"		var sub = f.d >= z.d && f.o >= z.o && f.o + f.v <= z.o + z.v;\n"
	"		f.g.classList.toggle('hid', !anc && !sub);\n"
	"		f.g.classList.toggle('anc', anc);\n"
	"		if (anc)\n"
	"			place(f, 0, FG.w);\n"
	"		else if (sub)\n"
	"			place(f, (f.o - z.o) / z.v * FG.w, f.v / z.v * FG.w);\n"
	"	}\n"
	"	el('reset').classList.toggle('hid', z === root);\n"
	"	svg.setAttribute('data-zoom', z === root ? '' : z.name);\n"
	"}\n"
	"function search(r) {\n"
	"	var hits = [], sum = 0, end = -1;\n"
	"	re = r;\n"
	"	for (var f of frames) {\n"
	"		var m = r !== null && f.d > 0 && r.test(f.name);\n"
	"		f.g.children[1].setAttribute('fill', m ? 'rgb(230,0,230)' : f.fill);\n"
	"		if (m)\n"
	"			hits.push(f);\n"
	"	}\n"
	"	hits.sort((a, b) => a.o - b.o || b.v - a.v);\n"
	"	for (var h of hits) {\n"
	"		if (h.o >= end) {\n"
	"			sum += h.v;\n"
	"			end = h.o + h.v;\n"
	"		}\n"
	"	}\n"
	"	var share = FG.total ? (100 * sum / FG.total).toFixed(2) : '0.00';\n"
	"	el('matched').textContent = r ? 'Matched: ' + fmt(sum) + ', ' + share + '%' : '';\n"
	"	el('search').textContent = r ? 'Reset search' : 'Search';\n"
	"	svg.setAttribute('data-matches', String(hits.length));\n"
	"	svg.setAttribute('data-share', r ? share : '');\n"
	"}\n"
	"function ask() {\n"
	"	var s = prompt('Search frames (regular expression):', re ? re.source : '');\n"
	"	if (s === null)\n"
	"		return;\n"
	"	try {\n"
	"		search(s === '' ? null : new RegExp(s));\n"
	"	} catch (e) {\n"
	"		status('Bad regular expression: ' + e.message);\n"
	"	}\n"
	"}\n"
	"function fromHash() {\n"
	"	for (var kv of location.hash.slice(1).split('&')) {\n"
	"		var i = kv.indexOf('='), k = kv.slice(0, i);\n"
	"		var v = decodeURIComponent(kv.slice(i + 1));\n"
	"		if (k === 'search') {\n"
	"			search(new RegExp(v));\n"
	"		} else if (k === 'zoom') {\n"
	"			var z = frames.find((f) => f.d > 0 && f.name === v);\n"
	"			if (!z)\n"
	"				throw new Error('no frame named ' + v);\n"
	"			zoom(z);\n"
	"		}\n"
	"	}\n"
	"}\n"
	"function frameOf(e) { return e.target.closest ? e.target.closest('g.f') : null; }\n"
	"window.addEventListener('error', (e) => svg.setAttribute('data-error', String(e.message)));\n"
	"window.addEventListener('load', function () {\n"
	"	for (var g of document.querySelectorAll('g.f')) {\n"
	"		var t = g.children[0].textContent;\n"
	"		frames.push({\n"
	"			g: g, name: t.slice(0, t.lastIndexOf(' (')),\n"
	"			o: +g.getAttribute('data-o'), v: +g.getAttribute('data-v'),\n"
	"			d: +g.getAttribute('data-d'), fill: g.children[1].getAttribute('fill'),\n"
	"		});\n"
	"	}\n"
	"	root = frames.find((f) => f.d === 0) || null;\n"
	"	status(root ? hint : '');\n"
	"	el('search').classList.toggle('hid', !root);\n"
	"	svg.addEventListener('mouseover', function (e) {\n"
	"		var g = frameOf(e);\n"
	"		if (g)\n"
	"			status(g.children[0].textContent);\n"
	"	});\n"
	"	svg.addEventListener('mouseout', function (e) {\n"
	"		if (frameOf(e))\n"
	"			status(hint);\n"
	"	});\n"
	"	svg.addEventListener('click', function (e) {\n"
	"		var g = frameOf(e);\n"
	"		if (g)\n"
	"			zoom(frames.find((f) => f.g === g));\n"
	"	});\n"
	"	el('reset').addEventListener('click', () => root && zoom(root));\n"
	"	el('search').addEventListener('click', () => re ? search(null) : ask());\n"
	"	document.addEventListener('keydown', function (e) {\n"
	"		if (((e.ctrlKey || e.metaKey) && e.key === 'f') || e.key === '/') {\n"
	"			e.preventDefault();\n"
	"			ask();\n"
	"		} else if (e.key === 'Escape' && root) {\n"
	"			zoom(root);\n"
	"			search(null);\n"
	"		}\n"
	"	});\n"
	"	window.addEventListener('hashchange', fromHash);\n"
	"	try {\n"
	"		fromHash();\n"
	"	} catch (e) {\n"
	"		svg.setAttribute('data-error', String(e.message));\n"
	"	}\n"
	"	svg.setAttribute('data-ok', '1');\n"
	"});\n";

/* "1.9 MiB outstanding", "1,234 blocks allocated while tracing", ... */
static void put_total(const struct fg *fg)
{
	char val[64];
	bool inuse = fg->o->value == PV_INUSE_BYTES || fg->o->value == PV_INUSE_COUNT;

	fprintf(fg->out, "Total: %s %s in %zu stack%s", fmt_value(fg, fg->total, val, sizeof(val)),
		inuse ? "outstanding" : "allocated while tracing",
		fg->stacks, fg->stacks == 1 ? "" : "s");
}

static void put_head(const struct fg *fg)
{
	const int mid = FG_WIDTH / 2;

	fprintf(fg->out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n<style>\n%s</style>\n",
		FG_WIDTH, fg->height, FG_WIDTH, fg->height, fg_style);
	fprintf(fg->out, "<script><![CDATA[\n\"use strict\";\n"
		"var FG = { total: %" PRIu64 ", bytes: %s, x0: %d, w: %d, cw: %.2f };\n"
		"%s]]></script>\n",
		fg->total, fg->bytes ? "true" : "false", FG_XPAD, FG_WIDTH - 2 * FG_XPAD,
		FG_CHAR_W, fg_script);
	fprintf(fg->out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f6ef\"/>\n"
		"<text class=\"title\" x=\"%d\" y=\"24\">", mid);
	xml_put(fg->out, fg->o->title ? fg->o->title : "pyleakbpf", SIZE_MAX);
	fprintf(fg->out, "</text>\n<text class=\"sub\" x=\"%d\" y=\"44\">", mid);
	put_total(fg);
	fprintf(fg->out, "</text>\n<text class=\"note\" x=\"%d\" y=\"60\">", mid);
	if (fg->elided)
		fprintf(fg->out, "%zu frame%s narrower than %.1f%% of the total not drawn",
			fg->elided, fg->elided == 1 ? "" : "s", 100 * FG_MIN_SHARE);
	fprintf(fg->out, "</text>\n<text id=\"reset\" class=\"btn hid\" x=\"%d\" y=\"24\">"
		"Reset zoom</text>\n<text id=\"search\" class=\"btn\" x=\"%d\" y=\"24\" "
		"text-anchor=\"end\">Search</text>\n", FG_XPAD, FG_WIDTH - FG_XPAD);
}

static void put_tail(const struct fg *fg)
{
	int y = fg->height - 10;

	fprintf(fg->out, "<text id=\"status\" x=\"%d\" y=\"%d\"></text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n</svg>\n",
		FG_XPAD, y, FG_WIDTH - FG_XPAD, y);
}

static int build(struct fg *fg, const struct profile *p, struct fnode *root)
{
	for (size_t i = 0; i < p->n; i++) {
		int64_t v = prof_value(&p->samples[i], fg->o->value);

		if (v <= 0)
			continue;
		if (tree_add(root, p->samples[i].folded ? p->samples[i].folded : "", v))
			return -ENOMEM;
		fg->stacks++;
	}
	fg->total = root->value;
	return 0;
}

int flamegraph_write(const struct profile *p, const struct flamegraph_opts *o, FILE *out)
{
	struct fnode root = { .name = (char *)"all" };
	struct fg fg = {
		.out = out, .o = o,
		.bytes = o->value == PV_INUSE_BYTES || o->value == PV_ALLOC_BYTES,
	};
	int err = build(&fg, p, &root);

	if (!err) {
		if (fg.total)
			measure(&fg, &root, 0);
		fg.height = FG_TOP + (fg.max_depth + 1) * FG_FRAME_H + FG_BOTTOM;
		put_head(&fg);
		if (fg.total)
			draw(&fg, &root, 0, 0);
		else
			fprintf(out, "<text class=\"sub\" x=\"%d\" y=\"%d\">Nothing to show: "
				"no stack has a positive value</text>\n",
				FG_WIDTH / 2, FG_TOP + FG_FRAME_H - 4);
		put_tail(&fg);
		err = ferror(out) ? -EIO : 0;
	}
	tree_free(root.child);
	return err;
}
