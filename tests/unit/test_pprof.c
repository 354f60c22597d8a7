// SPDX-License-Identifier: GPL-2.0
/*
 * pprof output: profiles are written to a file, gunzipped and decoded back
 * with the small protobuf reader below, which knows only the fields of
 * profile.proto that pprof_write() uses, and accepts repeated scalars
 * packed or not, as protobuf decoders must.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include "profile.h"
#include "unit.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_ITEMS	4096
#define MAX_REPEAT	16

struct pb_reader {
	const uint8_t *p, *end;
	bool bad;
};

struct pb_field {
	int num, wire;
	uint64_t v;			/* wire type 0 */
	struct pb_reader sub;		/* wire type 2 */
};

struct dec_sample {
	uint64_t loc[MAX_REPEAT];
	int nloc;
	uint64_t val[MAX_REPEAT];
	int nval;
};

struct dec_loc {
	uint64_t id, mapping, func, line;
	int nlines;
};

struct dec_func {
	uint64_t id, name, system_name, file;
};

struct dec_mapping {
	uint64_t id, file;
	bool has_functions;
};

struct dec {
	char *str[MAX_ITEMS];
	int nstr;
	uint64_t type[MAX_REPEAT][2];
	int ntypes;
	struct dec_sample sample[MAX_ITEMS];
	int nsamples;
	struct dec_loc loc[MAX_ITEMS];
	int nlocs;
	struct dec_func func[MAX_ITEMS];
	int nfuncs;
	struct dec_mapping mapping[MAX_REPEAT];
	int nmappings;
	uint64_t comment[MAX_REPEAT];
	int ncomments;
	uint64_t time, duration, period, period_type[2], default_type;
	bool bad;
};

static uint64_t rd_varint(struct pb_reader *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		uint8_t c = *r->p++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/* The next field of r into f; false at the end or on bad data. */
static bool rd_field(struct pb_reader *r, struct pb_field *f)
{
	uint64_t key, len;

	if (r->bad || r->p >= r->end)
		return false;
	key = rd_varint(r);
	f->num = key >> 3;
	f->wire = key & 7;
	if (f->wire == 0) {
		f->v = rd_varint(r);
	} else if (f->wire == 2) {
		len = rd_varint(r);
		if (len > (uint64_t)(r->end - r->p)) {
			r->bad = true;
			return false;
		}
		f->sub = (struct pb_reader){ r->p, r->p + len, false };
		r->p += len;
	} else {
		r->bad = true;
	}
	return !r->bad;
}

/* Appends a repeated varint field, packed or not, to out[*n]. */
static void rd_repeated(struct pb_field *f, uint64_t *out, int *n)
{
	if (f->wire == 0) {
		if (*n < MAX_REPEAT)
			out[(*n)++] = f->v;
		return;
	}
	while (f->sub.p < f->sub.end && *n < MAX_REPEAT)
		out[(*n)++] = rd_varint(&f->sub);
}

static void dec_value_type(struct pb_reader r, uint64_t vt[2])
{
	struct pb_field f;

	while (rd_field(&r, &f))
		if (f.num == 1 || f.num == 2)
			vt[f.num - 1] = f.v;
}

static void dec_sample(struct pb_reader r, struct dec_sample *s)
{
	struct pb_field f;

	while (rd_field(&r, &f)) {
		if (f.num == 1)
			rd_repeated(&f, s->loc, &s->nloc);
		else if (f.num == 2)
			rd_repeated(&f, s->val, &s->nval);
	}
}

static void dec_location(struct pb_reader r, struct dec_loc *l)
{
	struct pb_field f, g;

	while (rd_field(&r, &f)) {
		if (f.num == 1)
			l->id = f.v;
		else if (f.num == 2)
			l->mapping = f.v;
		if (f.num != 4)
			continue;
		l->nlines++;
		while (rd_field(&f.sub, &g)) {
			if (g.num == 1)
				l->func = g.v;
			else if (g.num == 2)
				l->line = g.v;
		}
	}
}

static void dec_function(struct pb_reader r, struct dec_func *fn)
{
	struct pb_field f;

	while (rd_field(&r, &f)) {
		if (f.num == 1)
			fn->id = f.v;
		else if (f.num == 2)
			fn->name = f.v;
		else if (f.num == 3)
			fn->system_name = f.v;
		else if (f.num == 4)
			fn->file = f.v;
	}
}

static void dec_mapping(struct pb_reader r, struct dec_mapping *m)
{
	struct pb_field f;

	while (rd_field(&r, &f)) {
		if (f.num == 1)
			m->id = f.v;
		else if (f.num == 5)
			m->file = f.v;
		else if (f.num == 7)
			m->has_functions = f.v;
	}
}

static void dec_field(struct dec *d, struct pb_field *f)
{
	switch (f->num) {
	case 1:
		if (d->ntypes < MAX_REPEAT)
			dec_value_type(f->sub, d->type[d->ntypes++]);
		break;
	case 2:
		if (d->nsamples < MAX_ITEMS)
			dec_sample(f->sub, &d->sample[d->nsamples++]);
		break;
	case 3:
		if (d->nmappings < MAX_REPEAT)
			dec_mapping(f->sub, &d->mapping[d->nmappings++]);
		break;
	case 4:
		if (d->nlocs < MAX_ITEMS)
			dec_location(f->sub, &d->loc[d->nlocs++]);
		break;
	case 5:
		if (d->nfuncs < MAX_ITEMS)
			dec_function(f->sub, &d->func[d->nfuncs++]);
		break;
	case 6:
		if (d->nstr < MAX_ITEMS)
			d->str[d->nstr++] = strndup((const char *)f->sub.p, f->sub.end - f->sub.p);
		break;
	case 9:
		d->time = f->v;
		break;
	case 10:
		d->duration = f->v;
		break;
	case 11:
		dec_value_type(f->sub, d->period_type);
		break;
	case 12:
		d->period = f->v;
		break;
	case 13:
		rd_repeated(f, d->comment, &d->ncomments);
		break;
	case 14:
		d->default_type = f->v;
		break;
	}
}

/* The gunzipped contents of path; NULL if it is not gzip data. */
static uint8_t *gunzip(const char *path, size_t *len)
{
	uint8_t magic[2] = { 0 }, *buf = NULL;
	size_t cap = 0;
	FILE *fp = fopen(path, "rb");
	gzFile gz;
	int n;

	if (!fp)
		return NULL;
	n = fread(magic, 1, 2, fp);
	fclose(fp);
	if (n != 2 || magic[0] != 0x1f || magic[1] != 0x8b)
		return NULL;	/* gzread would pass plain data through */
	gz = gzopen(path, "rb");
	if (!gz)
		return NULL;
	*len = 0;
	do {
		if (*len + 65536 > cap)
			buf = realloc(buf, cap = cap * 2 + 65536);
		n = gzread(gz, buf + *len, 65536);
		if (n > 0)
			*len += n;
	} while (n > 0);
	gzclose(gz);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Writes p with pprof_write() and decodes it back; NULL on failure. */
static struct dec *roundtrip(const struct profile *p)
{
	char path[] = "/tmp/unit_pprof_XXXXXX";
	struct pb_reader r;
	struct pb_field f;
	struct dec *d;
	uint8_t *buf;
	size_t len;
	int fd, err;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return NULL;
	close(fd);
	err = pprof_write(p, path);
	CHECK_EQ_INT(err, 0);
	buf = gunzip(path, &len);
	unlink(path);
	CHECKF(buf != NULL, "%s: not gzip data", path);
	if (err || !buf)
		return NULL;
	d = calloc(1, sizeof(*d));
	r = (struct pb_reader){ buf, buf + len, false };
	while (rd_field(&r, &f))
		dec_field(d, &f);
	d->bad = r.bad;
	CHECKF(!d->bad, "bad protobuf data");
	free(buf);
	return d;
}

static void dec_free(struct dec *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nstr; i++)
		free(d->str[i]);
	free(d);
}

static const char *S(const struct dec *d, uint64_t i)
{
	return i < (uint64_t)d->nstr ? d->str[i] : "(bad string index)";
}

static const struct dec_loc *find_loc(const struct dec *d, uint64_t id)
{
	for (int i = 0; i < d->nlocs; i++)
		if (d->loc[i].id == id)
			return &d->loc[i];
	return NULL;
}

static const struct dec_func *find_func(const struct dec *d, uint64_t id)
{
	for (int i = 0; i < d->nfuncs; i++)
		if (d->func[i].id == id)
			return &d->func[i];
	return NULL;
}

/* Location id as "func file:line", for comparing whole frames at once. */
static const char *frame(const struct dec *d, uint64_t id)
{
	static char buf[8][512];
	static int next;
	const struct dec_loc *l = find_loc(d, id);
	const struct dec_func *fn = l ? find_func(d, l->func) : NULL;
	char *b = buf[next++ % 8];

	if (!l || !fn || l->nlines != 1)
		return "(bad location)";
	snprintf(b, sizeof(buf[0]), "%s %s:%llu", S(d, fn->name), S(d, fn->file),
		 (unsigned long long)l->line);
	return b;
}

static int64_t val(const struct dec *d, int sample, int i)
{
	return (int64_t)d->sample[sample].val[i];
}

/* Ids unique and non-zero, references resolved, strings unique. */
static void check_consistent(const struct dec *d)
{
	for (int i = 0; i < d->nlocs; i++) {
		CHECK(d->loc[i].id != 0);
		CHECK(find_loc(d, d->loc[i].id) == &d->loc[i]);
		CHECK(find_func(d, d->loc[i].func) != NULL);
		CHECK_EQ_INT(d->loc[i].mapping, d->mapping[0].id);
	}
	for (int i = 0; i < d->nfuncs; i++) {
		CHECK(d->func[i].id != 0);
		CHECK(find_func(d, d->func[i].id) == &d->func[i]);
		CHECK(d->func[i].name < (uint64_t)d->nstr && d->func[i].file < (uint64_t)d->nstr);
		/* go tool pprof would "demangle" "<module>" to nothing */
		CHECK_EQ_INT(d->func[i].system_name, 0);
	}
	for (int i = 0; i < d->nsamples; i++) {
		CHECK_EQ_INT(d->sample[i].nval, 4);
		for (int j = 0; j < d->sample[i].nloc; j++)
			CHECK(find_loc(d, d->sample[i].loc[j]) != NULL);
	}
	for (int i = 0; i < d->nstr; i++)
		for (int j = i + 1; j < d->nstr; j++)
			CHECKF(strcmp(d->str[i], d->str[j]), "\"%s\" twice in string_table", d->str[i]);
}

static const struct prof_frame leak[] = {	/* leaf first */
	{ "Registry.add", "/srv/app/registry.py", 42, false },
	{ "handle", "/srv/app/server.py", 17, false },
	{ "<module>", "/srv/app/main.py", 3, false },
};

static const struct prof_frame native[] = {
	{ "libc.so.6!malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6", 99, true },
	{ "_json.so!scanstring", "/usr/lib/python3.11/lib-dynload/_json.so", 0, true },
	{ "handle", "/srv/app/server.py", 20, false },
	{ "<module>", "/srv/app/main.py", 3, false },
};

TEST(pprof_header)
{
	struct prof_sample s[] = { { "", leak, 3, 1000, 10, 2000, 20 } };
	struct profile p = {
		.samples = s, .n = 1, .pid = 4242, .comm = "python3", .python = "3.11.2",
		.start_unix_ns = 1763714554123456789ULL, .duration_ns = 30000000000ULL,
	};
	static const char *types[][2] = {
		{ "inuse_space", "bytes" }, { "inuse_objects", "count" },
		{ "alloc_space", "bytes" }, { "alloc_objects", "count" },
	};
	struct dec *d = roundtrip(&p);

	if (!d)
		return;
	CHECK(d->nstr > 0);
	CHECK_STR(S(d, 0), "");
	CHECK_EQ_INT(d->ntypes, 4);
	for (int i = 0; i < 4 && i < d->ntypes; i++) {
		CHECK_STR(S(d, d->type[i][0]), types[i][0]);
		CHECK_STR(S(d, d->type[i][1]), types[i][1]);
	}
	CHECK_STR(S(d, d->default_type), "inuse_space");
	CHECK_STR(S(d, d->period_type[0]), "space");
	CHECK_STR(S(d, d->period_type[1]), "bytes");
	CHECK_EQ_INT(d->period, 1);
	CHECK_EQ_U64(d->time, 1763714554123456789ULL);
	CHECK_EQ_U64(d->duration, 30000000000ULL);
	CHECK_EQ_INT(d->ncomments, 1);
	CHECK_STR(S(d, d->comment[0]), "pyleakbpf PID 4242 (python3), CPython 3.11.2");
	CHECK_EQ_INT(d->nmappings, 1);
	CHECK(d->mapping[0].id != 0);
	CHECK(d->mapping[0].has_functions);
	CHECK_STR(S(d, d->mapping[0].file), "python3");
	check_consistent(d);
	dec_free(d);
}

TEST(pprof_samples)
{
	static const struct prof_frame other_line[] = {
		{ "Registry.add", "/srv/app/registry.py", 44, false },
		{ "handle", "/srv/app/server.py", 17, false },
		{ "<module>", "/srv/app/main.py", 3, false },
	};
	struct prof_sample s[] = {
		{ "", leak, 3, 1000000, 1000, 3000000, 3000 },
		{ "", leak, 3, 0, 0, 0, 0 },		/* left out */
		{ "", other_line, 3, -64, -1, 1ULL << 40, 7 },
		{ "", native, 4, 4096, 2, 819200, 400 },
	};
	struct profile p = { .samples = s, .n = ARRAY_LEN(s), .comm = "python3" };
	struct dec *d = roundtrip(&p);

	if (!d)
		return;
	CHECK_EQ_INT(d->nsamples, 3);
	if (d->nsamples != 3)
		goto out;
	CHECK_EQ_INT(val(d, 0, 0), 1000000);
	CHECK_EQ_INT(val(d, 0, 1), 1000);
	CHECK_EQ_INT(val(d, 0, 2), 3000000);
	CHECK_EQ_INT(val(d, 0, 3), 3000);
	CHECK_EQ_INT(val(d, 1, 0), -64);
	CHECK_EQ_INT(val(d, 1, 1), -1);
	CHECK_EQ_INT(val(d, 1, 2), 1LL << 40);
	CHECK_EQ_INT(val(d, 1, 3), 7);
	CHECK_EQ_INT(val(d, 2, 3), 400);

	CHECK_EQ_INT(d->sample[0].nloc, 3);
	CHECK_STR(frame(d, d->sample[0].loc[0]), "Registry.add /srv/app/registry.py:42");
	CHECK_STR(frame(d, d->sample[0].loc[1]), "handle /srv/app/server.py:17");
	CHECK_STR(frame(d, d->sample[0].loc[2]), "<module> /srv/app/main.py:3");
	CHECK_EQ_INT(d->sample[1].nloc, 3);
	CHECK_STR(frame(d, d->sample[1].loc[0]), "Registry.add /srv/app/registry.py:44");
	CHECK_EQ_INT(d->sample[2].nloc, 4);
	/* native frames: the library as the file, no line */
	CHECK_STR(frame(d, d->sample[2].loc[0]),
		  "libc.so.6!malloc /usr/lib/x86_64-linux-gnu/libc.so.6:0");
	CHECK_STR(frame(d, d->sample[2].loc[1]),
		  "_json.so!scanstring /usr/lib/python3.11/lib-dynload/_json.so:0");
	CHECK_STR(frame(d, d->sample[2].loc[2]), "handle /srv/app/server.py:20");

	/* the same frame is one Location, the same function one Function */
	CHECK_EQ_INT(d->sample[1].loc[1], d->sample[0].loc[1]);
	CHECK_EQ_INT(d->sample[2].loc[3], d->sample[0].loc[2]);
	CHECK(d->sample[1].loc[0] != d->sample[0].loc[0]);
	CHECK_EQ_INT(find_loc(d, d->sample[1].loc[0])->func, find_loc(d, d->sample[0].loc[0])->func);
	CHECK_EQ_INT(find_loc(d, d->sample[2].loc[2])->func, find_loc(d, d->sample[0].loc[1])->func);
	CHECK_EQ_INT(d->nlocs, 7);
	CHECK_EQ_INT(d->nfuncs, 5);
out:
	check_consistent(d);
	dec_free(d);
}

/* Functions are (name, file): one name in two files is two functions. */
TEST(pprof_function_by_file)
{
	static const struct prof_frame a[] = { { "run", "/a/x.py", 1, false } };
	static const struct prof_frame b[] = { { "run", "/b/x.py", 1, false } };
	struct prof_sample s[] = { { "", a, 1, 1, 1, 1, 1 }, { "", b, 1, 2, 2, 2, 2 } };
	struct profile p = { .samples = s, .n = 2 };
	struct dec *d = roundtrip(&p);

	if (!d)
		return;
	CHECK_EQ_INT(d->nfuncs, 2);
	CHECK_EQ_INT(d->nlocs, 2);
	CHECK_EQ_INT(d->nsamples, 2);
	if (d->nsamples == 2) {
		CHECK_STR(frame(d, d->sample[0].loc[0]), "run /a/x.py:1");
		CHECK_STR(frame(d, d->sample[1].loc[0]), "run /b/x.py:1");
	}
	check_consistent(d);
	dec_free(d);
}

/* go tool pprof drops samples without locations from its reports. */
TEST(pprof_stackless)
{
	static const struct prof_frame odd[] = { { NULL, NULL, -3, false } };
	struct prof_sample s[] = {
		{ "[no Python frames]", NULL, 0, 10, 1, 10, 1 },
		{ NULL, NULL, 0, 20, 2, 20, 2 },
		{ "", odd, 1, 30, 3, 30, 3 },
	};
	struct profile p = { .samples = s, .n = ARRAY_LEN(s) };
	struct dec *d = roundtrip(&p);

	if (!d)
		return;
	CHECK_EQ_INT(d->nsamples, 3);
	if (d->nsamples == 3) {
		CHECK_EQ_INT(d->sample[0].nloc, 1);
		CHECK_STR(frame(d, d->sample[0].loc[0]), "[no Python frames] :0");
		CHECK_EQ_INT(d->sample[1].nloc, 1);
		CHECK_STR(frame(d, d->sample[1].loc[0]), "[unknown] :0");
		CHECK_EQ_INT(d->sample[2].nloc, 1);
		CHECK_EQ_INT(d->sample[2].loc[0], d->sample[1].loc[0]);
	}
	CHECK_STR(S(d, d->comment[0]), "pyleakbpf PID 0 (?), CPython ?");
	check_consistent(d);
	dec_free(d);
}

TEST(pprof_empty)
{
	struct profile p = { .pid = 1, .comm = "python3", .python = "3.12.1" };
	struct prof_sample zero = { "", leak, 3, 0, 0, 0, 0 };
	struct dec *d = roundtrip(&p);

	if (!d)
		return;
	CHECK_STR(S(d, 0), "");
	CHECK_EQ_INT(d->ntypes, 4);
	CHECK_EQ_INT(d->nsamples, 0);
	CHECK_EQ_INT(d->nlocs, 0);
	CHECK_EQ_INT(d->nfuncs, 0);
	CHECK_STR(S(d, d->default_type), "inuse_space");
	dec_free(d);

	/* only samples of zeroes: as empty */
	p.samples = &zero;
	p.n = 1;
	d = roundtrip(&p);
	if (!d)
		return;
	CHECK_EQ_INT(d->nsamples, 0);
	CHECK_EQ_INT(d->nlocs, 0);
	dec_free(d);
}

/* Enough frames for the dedup tables to grow several times. */
TEST(pprof_many)
{
	enum { NSAMPLES = 3000, NFUNCS = 500, DEPTH = 3 };
	static struct prof_frame frames[NSAMPLES][DEPTH];
	static struct prof_sample s[NSAMPLES];
	static char names[NFUNCS][32];
	struct profile p = { .samples = s, .n = NSAMPLES };
	static bool seen[NFUNCS][4];
	int64_t total = 0, got = 0;
	int nlocs = 0;
	struct dec *d;

	for (int i = 0; i < NFUNCS; i++)
		snprintf(names[i], sizeof(names[i]), "f%d", i);
	for (int i = 0; i < NSAMPLES; i++) {
		for (int j = 0; j < DEPTH; j++) {
			int fn = (i + j * 7) % NFUNCS, line = (i + j) % 4 + 1;

			frames[i][j] = (struct prof_frame){ names[fn], "/t/many.py", line, false };
			nlocs += !seen[fn][line - 1];
			seen[fn][line - 1] = true;
		}
		s[i] = (struct prof_sample){ "", frames[i], DEPTH, i + 1, 1, i + 1, 1 };
		total += i + 1;
	}
	d = roundtrip(&p);
	if (!d)
		return;
	CHECK_EQ_INT(d->nsamples, NSAMPLES);
	CHECK_EQ_INT(d->nfuncs, NFUNCS);
	CHECK_EQ_INT(d->nlocs, nlocs);
	for (int i = 0; i < d->nsamples; i++)
		got += val(d, i, 0);
	CHECK_EQ_INT(got, total);
	if (d->nsamples == NSAMPLES)
		CHECK_STR(frame(d, d->sample[2999].loc[2]), "f13 /t/many.py:2");
	dec_free(d);
}

TEST(pprof_write_errors)
{
	struct profile p = { 0 };

	CHECK_EQ_INT(pprof_write(&p, "/nonexistent/dir/out.pb.gz"), -ENOENT);
}
