// SPDX-License-Identifier: GPL-2.0
/*
 * bsnap-stamp: stamped data for proving that a snapshot image holds exactly
 * what the origin held at snapshot time.
 *
 * Every 512-byte sector written by this tool is self-describing:
 *
 *   off  size  field
 *     0     8  magic    "BSNAPSTM" (STAMP_MAGIC, little endian u64)
 *     8     8  lba      sector index inside the target (device or file)
 *    16     8  gen      generation number given by the test
 *    24     8  nonce    per-run value: stamps of an older run never match
 *    32     8  id       0 for a device, a file id (hash of the basename or
 *                       --id) for a file: a block of another file never matches
 *    40   468  payload  derived from (lba, gen, nonce, id) only
 *   508     4  crc32c   over bytes 0..507
 *
 * A sector's content is a pure function of (lba, gen, nonce, id), so
 * concurrent writers that overlap with the same generation race harmlessly:
 * the final content is the same whatever the order. That is what lets
 * `overwrite` record a map of the generation each sector must hold (--map),
 * and `verify` check the origin after concurrent O_DIRECT and buffered writes.
 * A wrong LBA means an addressing bug, a bad crc a torn or mixed sector, a
 * wrong generation a stale or too new block, a wrong nonce or id a block of
 * another run or file.
 *
 * Block devices are read with O_DIRECT (a cached page of /dev/bsnapN would hide
 * what the module returns now); files are read through the page cache unless
 * --direct. Exit status: 0 ok, 1 mismatch or I/O error, 2 usage error.
 *
 * Plain POSIX + pthreads, plus the Linux ioctls BLKGETSIZE64 and FS_IOC_FIEMAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 512u
#define BLOCK 4096u
#define STAMP_MAGIC 0x4d5453504e534242ull /* "BBSNPSTM" read as LE bytes */
#define MAP_MAGIC 0x50414d5053534e42ull	  /* "BNSSPMAP" */
#define CHUNK (4u << 20)		  /* bytes per read or fill write */
#define OFF_CRC 508u

static const char *prog = "bsnap-stamp";

/* ------------------------------------------------------------------ util */

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s help')\n", prog);
	exit(2);
}

static void *xmalloc_aligned(size_t n)
{
	void *p = NULL;
	int err = posix_memalign(&p, BLOCK, n ? n : BLOCK);

	if (err)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sizes: a number with an optional K/M/G/T suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case 't': case 'T': mult = 1ull << 40; end++; break;
	case 's': case 'S': mult = SECTOR; end++; break; /* sectors */
	default: break;
	}
	if (mult != 1 && mult != SECTOR && (*end == 'i' || *end == 'I'))
		end++;
	if (mult != 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x) /* splitmix64 finaliser */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

static uint64_t rng_below(uint64_t *s, uint64_t n) /* uniform in [0, n) */
{
	return n ? rng_next(s) % n : 0;
}

/* ---------------------------------------------------------------- crc32c */

static uint32_t crc_table[8][256];

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* CRC-32C (Castagnoli), slicing by 8; crc32c(0, "123456789") = 0xe3069283. */
static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = crc ^ get_le32(p);
		uint32_t hi = get_le32(p + 4);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ----------------------------------------------------------------- XXH64 */

#define XP1 11400714785074694791ull
#define XP2 14029467366897019727ull
#define XP3 1609587929392839161ull
#define XP4 9650029242287828579ull
#define XP5 2870177450012600261ull

struct xxh64 {
	uint64_t v[4], total;
	uint8_t buf[32];
	unsigned nbuf;
	uint64_t seed;
};

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t xxh_round(uint64_t acc, uint64_t in)
{
	acc += in * XP2;
	acc = rotl64(acc, 31);
	return acc * XP1;
}

static uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	acc ^= xxh_round(0, v);
	return acc * XP1 + XP4;
}

static void xxh64_init(struct xxh64 *x, uint64_t seed)
{
	memset(x, 0, sizeof(*x));
	x->seed = seed;
	x->v[0] = seed + XP1 + XP2;
	x->v[1] = seed + XP2;
	x->v[2] = seed;
	x->v[3] = seed - XP1;
}

static void xxh64_stripe(struct xxh64 *x, const uint8_t *p)
{
	for (int i = 0; i < 4; i++)
		x->v[i] = xxh_round(x->v[i], get_le64(p + 8 * i));
}

static void xxh64_update(struct xxh64 *x, const uint8_t *p, size_t n)
{
	x->total += n;
	if (x->nbuf) {
		size_t take = 32 - x->nbuf < n ? 32 - x->nbuf : n;

		memcpy(x->buf + x->nbuf, p, take);
		x->nbuf += (unsigned)take;
		p += take;
		n -= take;
		if (x->nbuf < 32)
			return;
		xxh64_stripe(x, x->buf);
		x->nbuf = 0;
	}
	while (n >= 32) {
		xxh64_stripe(x, p);
		p += 32;
		n -= 32;
	}
	memcpy(x->buf, p, n);
	x->nbuf = (unsigned)n;
}

static uint64_t xxh64_final(const struct xxh64 *x)
{
	uint64_t h;
	const uint8_t *p = x->buf;
	size_t n = x->nbuf;

	if (x->total >= 32) {
		h = rotl64(x->v[0], 1) + rotl64(x->v[1], 7) + rotl64(x->v[2], 12) +
		    rotl64(x->v[3], 18);
		for (int i = 0; i < 4; i++)
			h = xxh_merge(h, x->v[i]);
	} else {
		h = x->seed + XP5;
	}
	h += x->total;
	while (n >= 8) {
		h ^= xxh_round(0, get_le64(p));
		h = rotl64(h, 27) * XP1 + XP4;
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		h ^= (uint64_t)get_le32(p) * XP1;
		h = rotl64(h, 23) * XP2 + XP3;
		p += 4;
		n -= 4;
	}
	while (n--) {
		h ^= (uint64_t)(*p++) * XP5;
		h = rotl64(h, 11) * XP1;
	}
	h ^= h >> 33;
	h *= XP2;
	h ^= h >> 29;
	h *= XP3;
	h ^= h >> 32;
	return h;
}

/* ----------------------------------------------------------------- stamps */

struct stamp_key {
	uint64_t gen, nonce, id;
};

static void stamp_sector(uint8_t *s, uint64_t lba, const struct stamp_key *k)
{
	uint64_t x = mix64(lba ^ mix64(k->gen ^ mix64(k->nonce ^ mix64(k->id + STAMP_MAGIC))));

	put_le64(s + 0, STAMP_MAGIC);
	put_le64(s + 8, lba);
	put_le64(s + 16, k->gen);
	put_le64(s + 24, k->nonce);
	put_le64(s + 32, k->id);
	for (unsigned i = 40; i < 504; i += 8)
		put_le64(s + i, rng_next(&x));
	put_le32(s + 504, (uint32_t)rng_next(&x));
	put_le32(s + OFF_CRC, crc32c(0, s, OFF_CRC));
}

static void stamp_range(uint8_t *buf, uint64_t first_lba, uint64_t nsect,
			const struct stamp_key *k)
{
	for (uint64_t i = 0; i < nsect; i++)
		stamp_sector(buf + i * SECTOR, first_lba + i, k);
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* One line describing what a sector holds, for reports. */
static void describe(const uint8_t *s, char *out, size_t len)
{
	if (is_zero(s, SECTOR)) {
		snprintf(out, len, "zeros");
		return;
	}
	if (get_le64(s) != STAMP_MAGIC) {
		int n = snprintf(out, len, "not a stamp (bytes");

		for (int i = 0; i < 8 && n > 0 && (size_t)n < len; i++)
			n += snprintf(out + n, len - (size_t)n, " %02x", s[i]);
		if (n > 0 && (size_t)n < len)
			snprintf(out + n, len - (size_t)n, ")");
		return;
	}
	snprintf(out, len, "stamp lba=%" PRIu64 " gen=%" PRIu64 " nonce=%#" PRIx64
		 " id=%#" PRIx64 " crc=%s",
		 get_le64(s + 8), get_le64(s + 16), get_le64(s + 24), get_le64(s + 32),
		 crc32c(0, s, OFF_CRC) == get_le32(s + OFF_CRC) ? "ok" : "BAD");
}

/* ---------------------------------------------------------------- targets */

struct target {
	const char *path;
	int fd;
	int is_blk;
	int direct;
	uint64_t size;
};

static uint64_t fd_size(int fd, const char *path, int *is_blk)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st))
		die("%s: stat: %s", path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size))
			die("%s: BLKGETSIZE64: %s", path, strerror(errno));
		*is_blk = 1;
		return size;
	}
	if (!S_ISREG(st.st_mode))
		die("%s: neither a block device nor a regular file", path);
	*is_blk = 0;
	return (uint64_t)st.st_size;
}

/* direct: 1 = must use O_DIRECT, 0 = never, -1 = for block devices only. */
static void target_open(struct target *t, const char *path, int flags, int direct)
{
	int fd;

	memset(t, 0, sizeof(*t));
	t->path = path;
	fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: open: %s", path, strerror(errno));
	t->size = fd_size(fd, path, &t->is_blk);
	t->direct = direct > 0 || (direct < 0 && t->is_blk);
	if (t->direct) {
		int dfd = open(path, (flags & ~(O_CREAT | O_TRUNC)) | O_CLOEXEC | O_DIRECT);

		if (dfd < 0) {
			if (direct > 0)
				die("%s: O_DIRECT open: %s", path, strerror(errno));
			t->direct = 0; /* block device without O_DIRECT: read cached */
		} else {
			close(fd);
			fd = dfd;
		}
	}
	t->fd = fd;
}

static void pread_full(struct target *t, uint8_t *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(t->fd, buf + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("%s: read %zu bytes at byte %" PRIu64 " (sector %" PRIu64 "): %s",
			    t->path, n - done, off + done, (off + done) / SECTOR,
			    strerror(errno));
		}
		if (r == 0)
			die("%s: unexpected end of data at byte %" PRIu64, t->path, off + done);
		done += (size_t)r;
	}
}

static int pwrite_full(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, buf + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Drop what we read from the page cache, so later reads see the device. */
static void drop_cache(struct target *t, uint64_t off, uint64_t len)
{
	if (!t->direct)
		posix_fadvise(t->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

/* ---------------------------------------------------------------- options */

struct opts {
	uint64_t gen, nonce, id, seed, ops, max_io, min_io, size, length;
	int have_gen, have_nonce, have_id, have_seed, have_ops, have_size, have_length;
	double seconds;
	unsigned threads, max_report, fsync_every;
	int direct, buffered, allow_zero, file_mode, quiet;
	uint64_t tolerate_nonstamp;
	const char *map, *zero_ranges, *ranges, *blocks_out, *blocks_check;
	int nargs;
	char **args;
};

enum {
	OPT_GEN = 256, OPT_NONCE, OPT_ID, OPT_SEED, OPT_OPS, OPT_SECONDS, OPT_THREADS,
	OPT_DIRECT, OPT_BUFFERED, OPT_MAX_IO, OPT_MIN_IO, OPT_SIZE, OPT_LENGTH, OPT_MAP,
	OPT_ZERO_RANGES, OPT_ALLOW_ZERO, OPT_MAX_REPORT, OPT_FSYNC_EVERY, OPT_RANGES,
	OPT_QUIET, OPT_EXPECT_FILE, OPT_ZERO_RANGES_C, OPT_TOLERATE, OPT_BLOCKS_OUT,
	OPT_BLOCKS_CHECK,
};

static const struct option long_opts[] = {
	{ "gen", required_argument, NULL, OPT_GEN },
	{ "nonce", required_argument, NULL, OPT_NONCE },
	{ "id", required_argument, NULL, OPT_ID },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "buffered", no_argument, NULL, OPT_BUFFERED },
	{ "max-io", required_argument, NULL, OPT_MAX_IO },
	{ "min-io", required_argument, NULL, OPT_MIN_IO },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "length", required_argument, NULL, OPT_LENGTH },
	{ "map", required_argument, NULL, OPT_MAP },
	{ "expect-file", required_argument, NULL, OPT_EXPECT_FILE },
	{ "allow-zero-ranges", required_argument, NULL, OPT_ZERO_RANGES },
	{ "allow-zero", no_argument, NULL, OPT_ALLOW_ZERO },
	{ "max-report", required_argument, NULL, OPT_MAX_REPORT },
	{ "fsync-every", required_argument, NULL, OPT_FSYNC_EVERY },
	{ "ranges", required_argument, NULL, OPT_RANGES },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "zero-ranges", required_argument, NULL, OPT_ZERO_RANGES_C },
	{ "tolerate-nonstamp", required_argument, NULL, OPT_TOLERATE },
	{ "blocks-out", required_argument, NULL, OPT_BLOCKS_OUT },
	{ "blocks-check", required_argument, NULL, OPT_BLOCKS_CHECK },
	{ NULL, 0, NULL, 0 },
};

static uint64_t opt_u64(const char *name, const char *arg)
{
	uint64_t v;

	if (parse_size(arg, &v))
		usage_error("--%s: not a number: '%s'", name, arg);
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->threads = 4;
	o->max_io = 4u << 20;
	o->min_io = SECTOR;
	o->max_report = 10;
	o->fsync_every = 8;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_GEN: o->gen = opt_u64("gen", optarg); o->have_gen = 1; break;
		case OPT_NONCE: o->nonce = opt_u64("nonce", optarg); o->have_nonce = 1; break;
		case OPT_ID: o->id = opt_u64("id", optarg); o->have_id = 1; break;
		case OPT_SEED: o->seed = opt_u64("seed", optarg); o->have_seed = 1; break;
		case OPT_OPS: o->ops = opt_u64("ops", optarg); o->have_ops = 1; break;
		case OPT_SECONDS: {
			char *end;

			o->seconds = strtod(optarg, &end);
			if (*end || o->seconds <= 0)
				usage_error("--seconds: not a positive number: '%s'", optarg);
			break;
		}
		case OPT_THREADS:
			o->threads = (unsigned)opt_u64("threads", optarg);
			if (o->threads < 1 || o->threads > 256)
				usage_error("--threads: 1..256");
			break;
		case OPT_DIRECT: o->direct = 1; break;
		case OPT_BUFFERED: o->buffered = 1; break;
		case OPT_MAX_IO: o->max_io = opt_u64("max-io", optarg); break;
		case OPT_MIN_IO: o->min_io = opt_u64("min-io", optarg); break;
		case OPT_SIZE: o->size = opt_u64("size", optarg); o->have_size = 1; break;
		case OPT_LENGTH: o->length = opt_u64("length", optarg); o->have_length = 1; break;
		case OPT_MAP: case OPT_EXPECT_FILE: o->map = optarg; break;
		case OPT_ZERO_RANGES: o->zero_ranges = optarg; break;
		case OPT_ALLOW_ZERO: o->allow_zero = 1; break;
		case OPT_MAX_REPORT: o->max_report = (unsigned)opt_u64("max-report", optarg); break;
		case OPT_FSYNC_EVERY: o->fsync_every = (unsigned)opt_u64("fsync-every", optarg); break;
		case OPT_RANGES: o->ranges = optarg; break;
		case OPT_QUIET: o->quiet = 1; break;
		case OPT_ZERO_RANGES_C: o->zero_ranges = optarg; break;
		case OPT_TOLERATE: o->tolerate_nonstamp = opt_u64("tolerate-nonstamp", optarg); break;
		case OPT_BLOCKS_OUT: o->blocks_out = optarg; break;
		case OPT_BLOCKS_CHECK: o->blocks_check = optarg; break;
		default: usage_error("bad option");
		}
	}
	o->nargs = argc - optind;
	o->args = argv + optind;
}

static void need_args(const struct opts *o, int min, int max, const char *what)
{
	if (o->nargs < min || o->nargs > max)
		usage_error("expected %s", what);
}

/* The stamp key of a command: --gen and --nonce are required, the id is 0 for
 * devices and the basename's hash for files unless --id is given. */
static struct stamp_key key_of(const struct opts *o, const char *path)
{
	struct stamp_key k;

	if (!o->have_gen)
		usage_error("--gen is required");
	if (!o->have_nonce) {
		const char *env = getenv("BSNAP_STAMP_NONCE");

		if (!env)
			usage_error("--nonce is required (or BSNAP_STAMP_NONCE in the environment)");
		if (parse_size(env, &k.nonce))
			usage_error("BSNAP_STAMP_NONCE: not a number");
	} else {
		k.nonce = o->nonce;
	}
	k.gen = o->gen;
	if (o->have_id) {
		k.id = o->id;
	} else if (o->file_mode) {
		const char *base = strrchr(path, '/');

		k.id = fnv1a64(base ? base + 1 : path);
	} else {
		k.id = 0;
	}
	return k;
}

/* -------------------------------------------------------------------- map */

/* The generation each sector must hold where it differs from the base
 * generation (0 = base). Stored as a header and one u32 per sector. */
struct gen_map {
	const char *path;
	uint64_t nsect;
	_Atomic uint32_t *gen;
};

static void map_load(struct gen_map *m, const char *path, uint64_t nsect, int must_exist)
{
	FILE *f;
	uint8_t hdr[16];

	m->path = path;
	m->nsect = nsect;
	m->gen = calloc(nsect ? nsect : 1, sizeof(*m->gen));
	if (!m->gen)
		die("out of memory for the map");
	f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return;
		die("%s: %s", path, strerror(errno));
	}
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || get_le64(hdr) != MAP_MAGIC)
		die("%s: not a bsnap-stamp map", path);
	if (get_le64(hdr + 8) != nsect)
		die("%s: map of %" PRIu64 " sectors, target has %" PRIu64, path,
		    get_le64(hdr + 8), nsect);
	for (uint64_t i = 0; i < nsect; i++) {
		uint8_t b[4];

		if (fread(b, 1, 4, f) != 4)
			die("%s: short map", path);
		atomic_store_explicit(&m->gen[i], get_le32(b), memory_order_relaxed);
	}
	fclose(f);
}

static void map_save(const struct gen_map *m)
{
	char tmp[PATH_MAX];
	FILE *f;
	uint8_t hdr[16];

	snprintf(tmp, sizeof(tmp), "%s.tmp", m->path);
	f = fopen(tmp, "wb");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	put_le64(hdr, MAP_MAGIC);
	put_le64(hdr + 8, m->nsect);
	fwrite(hdr, 1, sizeof(hdr), f);
	for (uint64_t i = 0; i < m->nsect; i++) {
		uint8_t b[4];

		put_le32(b, atomic_load_explicit(&m->gen[i], memory_order_relaxed));
		fwrite(b, 1, 4, f);
	}
	if (fflush(f) || fsync(fileno(f)) || fclose(f))
		die("%s: write: %s", tmp, strerror(errno));
	if (rename(tmp, m->path))
		die("%s: rename: %s", m->path, strerror(errno));
}

/* ----------------------------------------------------------------- ranges */

struct range {
	uint64_t start, count; /* sectors */
};

struct ranges {
	struct range *r;
	size_t n, cap;
};

static void ranges_add(struct ranges *rs, uint64_t start, uint64_t count)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r)
			die("out of memory");
	}
	rs->r[rs->n].start = start;
	rs->r[rs->n].count = count;
	rs->n++;
}

/* Lines "start_sector sector_count [anything]"; '#' starts a comment. */
static void ranges_read(struct ranges *rs, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char *p = line;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		if (sscanf(p, "%llu %llu", &a, &b) != 2)
			die("%s:%u: expected 'start_sector sector_count'", path, lineno);
		ranges_add(rs, a, b);
	}
	fclose(f);
}

static int ranges_contain(const struct ranges *rs, uint64_t lba)
{
	for (size_t i = 0; i < rs->n; i++)
		if (lba >= rs->r[i].start && lba - rs->r[i].start < rs->r[i].count)
			return 1;
	return 0;
}

/* Physical extents of a file through FIEMAP, in 512-byte sectors of the
 * filesystem's block device. Fails on extents without a fixed location. */
static void file_extents(const char *path, struct ranges *rs, uint64_t *flags_seen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const unsigned batch = 256;
	struct fiemap *fm;
	uint64_t start = 0;
	int last = 0;

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	fm = calloc(1, sizeof(*fm) + batch * sizeof(struct fiemap_extent));
	if (!fm)
		die("out of memory");
	*flags_seen = 0;
	while (!last) {
		memset(fm, 0, sizeof(*fm) + batch * sizeof(struct fiemap_extent));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = batch;
		if (ioctl(fd, FS_IOC_FIEMAP, fm))
			die("%s: FIEMAP: %s", path, strerror(errno));
		if (fm->fm_mapped_extents == 0)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			const uint32_t bad = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
					     FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE |
					     FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_NOT_ALIGNED;

			if (e->fe_flags & bad)
				die("%s: extent at file byte %llu has no fixed location "
				    "(flags %#x)", path, (unsigned long long)e->fe_logical,
				    e->fe_flags);
			if (e->fe_physical % SECTOR || e->fe_length % SECTOR)
				die("%s: extent not sector aligned", path);
			*flags_seen |= e->fe_flags;
			ranges_add(rs, e->fe_physical / SECTOR, e->fe_length / SECTOR);
			start = e->fe_logical + e->fe_length;
			if (e->fe_flags & FIEMAP_EXTENT_LAST)
				last = 1;
		}
	}
	free(fm);
	close(fd);
}

/* ------------------------------------------------------------------- fill */

struct fill_job {
	struct target *t;
	struct stamp_key key;
	uint64_t from, to; /* bytes */
	int err;
	uint64_t err_off;
};

static void *fill_thread(void *arg)
{
	struct fill_job *j = arg;
	uint8_t *buf = xmalloc_aligned(CHUNK);

	for (uint64_t off = j->from; off < j->to; off += CHUNK) {
		size_t n = j->to - off < CHUNK ? (size_t)(j->to - off) : CHUNK;

		stamp_range(buf, off / SECTOR, n / SECTOR, &j->key);
		if (pwrite_full(j->t->fd, buf, n, off)) {
			j->err = errno;
			j->err_off = off;
			break;
		}
	}
	free(buf);
	return NULL;
}

static int cmd_fill(struct opts *o)
{
	struct target t;
	struct stamp_key key;
	struct fill_job jobs[256];
	uint64_t size;
	double t0 = now_s();
	int flags = O_WRONLY | ((o->file_mode || o->have_size) ? O_CREAT : 0);

	need_args(o, 1, 1, "one target");
	key = key_of(o, o->args[0]);
	target_open(&t, o->args[0], flags, o->buffered ? 0 : -1);
	if (o->have_size) {
		if (t.is_blk)
			usage_error("--size is for files; a device is filled whole");
		if (ftruncate(t.fd, (off_t)o->size))
			die("%s: truncate: %s", t.path, strerror(errno));
		t.size = o->size;
	}
	size = o->have_length ? o->length : t.size;
	if (size > t.size && t.is_blk)
		die("%s: --length beyond the end of the device", t.path);
	if (size % SECTOR)
		die("%s: size %" PRIu64 " is not a multiple of 512", t.path, size);
	if (size == 0)
		die("%s: nothing to fill (empty; give --size)", t.path);
	/* contiguous slices, 4 MiB aligned, one per thread */
	uint64_t per = (size / o->threads + CHUNK - 1) / CHUNK * CHUNK;
	unsigned nthreads = 0;

	for (uint64_t from = 0; from < size && nthreads < o->threads; from += per) {
		struct fill_job *j = &jobs[nthreads++];

		memset(j, 0, sizeof(*j));
		j->t = &t;
		j->key = key;
		j->from = from;
		j->to = from + per < size ? from + per : size;
	}
	pthread_t th[256];

	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, fill_thread, &jobs[i]))
			die("pthread_create failed");
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < nthreads; i++)
		if (jobs[i].err)
			die("%s: write at byte %" PRIu64 ": %s", t.path, jobs[i].err_off,
			    strerror(jobs[i].err));
	if (fsync(t.fd))
		die("%s: fsync: %s", t.path, strerror(errno));
	close(t.fd);
	if (o->map) {
		/* a fresh fill: every sector holds the base generation again */
		struct gen_map m = { .path = o->map, .nsect = size / SECTOR };

		m.gen = calloc(m.nsect ? m.nsect : 1, sizeof(*m.gen));
		if (!m.gen)
			die("out of memory");
		map_save(&m);
		free(m.gen);
	}
	if (!o->quiet)
		printf("filled %s: %" PRIu64 " bytes, gen %" PRIu64 ", nonce %#" PRIx64
		       ", id %#" PRIx64 ", %.1f s\n",
		       t.path, size, key.gen, key.nonce, key.id, now_s() - t0);
	return 0;
}

/* -------------------------------------------------------------- overwrite */

static atomic_int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

/*
 * O_DIRECT and buffered writes to the same page at the same time are not
 * coherent in Linux (a dirty page that the direct write cannot invalidate is
 * written back later with its older sectors). Writers therefore take the 1 MiB
 * regions they touch in ascending order: writers of one kind share a region,
 * a direct and a buffered writer never do. Overlapping writes of one kind
 * still race, which is what a copy-before-write path must survive.
 */
#define REGION_SHIFT 20

struct region {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned users[2]; /* [0] buffered, [1] direct */
};

static void region_get(struct region *r, int direct)
{
	pthread_mutex_lock(&r->lock);
	while (r->users[!direct])
		pthread_cond_wait(&r->cond, &r->lock);
	r->users[direct]++;
	pthread_mutex_unlock(&r->lock);
}

static void region_put(struct region *r, int direct)
{
	pthread_mutex_lock(&r->lock);
	if (--r->users[direct] == 0)
		pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

struct ow_shared {
	const char *path;
	struct region *regions;
	int fd_buf, fd_direct;
	uint64_t size; /* bytes */
	struct stamp_key key;
	struct gen_map map;
	const struct opts *o;
	double deadline;
	atomic_int failed;
	atomic_uint dio_align; /* smallest O_DIRECT alignment that works */
};

struct ow_worker {
	struct ow_shared *sh;
	unsigned idx;
	uint64_t rng, ops_todo;
	uint64_t ops, bytes, direct_ops, big_ops, small_ops, unaligned_ops, fsyncs;
	int err;
	char errmsg[256];
};

/* Pick one write: sizes from a sector up to --max-io, mostly 4 KiB aligned,
 * some sector aligned (partial blocks at both ends). */
static void ow_pick(struct ow_worker *w, uint64_t *off, uint64_t *len)
{
	const struct opts *o = w->sh->o;
	uint64_t nsect = w->sh->size / SECTOR;
	uint64_t r = rng_below(&w->rng, 100), lo, hi, align;

	if (r < 10) {
		lo = SECTOR; hi = BLOCK; /* sub-block */
	} else if (r < 50) {
		lo = BLOCK; hi = 64u << 10;
	} else if (r < 80) {
		lo = 64u << 10; hi = 1u << 20;
	} else {
		lo = 1u << 20; hi = o->max_io;
	}
	if (hi > o->max_io)
		hi = o->max_io;
	if (lo > hi)
		lo = hi;
	if (lo < o->min_io)
		lo = o->min_io;
	if (hi < lo)
		hi = lo; /* min_io <= max_io, so still within the buffer */
	align = (r < 10 || rng_below(&w->rng, 4) == 0) ? SECTOR : BLOCK;
	if (align < o->min_io && o->min_io <= BLOCK)
		align = o->min_io;
	if (align > o->max_io || o->max_io % align)
		align = SECTOR;
	*len = lo + rng_below(&w->rng, hi - lo + 1);
	*len = *len / align * align;
	if (*len < align)
		*len = align;
	if (*len > nsect * SECTOR)
		*len = nsect * SECTOR / align * align;
	uint64_t slots = (nsect * SECTOR - *len) / align + 1;

	*off = rng_below(&w->rng, slots) * align;
}

static void *ow_thread(void *arg)
{
	struct ow_worker *w = arg;
	struct ow_shared *sh = w->sh;
	const struct opts *o = sh->o;
	uint8_t *buf = xmalloc_aligned(o->max_io);
	unsigned since_fsync = 0;

	while (!atomic_load(&stop_flag) && !atomic_load(&sh->failed)) {
		uint64_t off, len;
		int direct, fd;

		if (o->have_ops && w->ops >= w->ops_todo)
			break;
		if (!o->have_ops && now_s() >= sh->deadline)
			break;
		ow_pick(w, &off, &len);
		direct = sh->fd_direct >= 0 && rng_below(&w->rng, 2) == 0;
		unsigned align = atomic_load(&sh->dio_align);

		if (direct && (off % align || len % align))
			direct = 0; /* the device cannot take it unbuffered */
		fd = direct ? sh->fd_direct : sh->fd_buf;
		stamp_range(buf, off / SECTOR, len / SECTOR, &sh->key);
		uint64_t r0 = off >> REGION_SHIFT, r1 = (off + len - 1) >> REGION_SHIFT;

		for (uint64_t r = r0; r <= r1; r++)
			region_get(&sh->regions[r], direct);
		int rc = pwrite_full(fd, buf, len, off);
		int err = errno;

		if (rc && direct && err == EINVAL && (off % BLOCK || len % BLOCK)) {
			/* sub-block O_DIRECT refused: from now on 4 KiB aligned only */
			atomic_store(&sh->dio_align, BLOCK);
			for (uint64_t r = r0; r <= r1; r++)
				region_put(&sh->regions[r], direct);
			direct = 0;
			for (uint64_t r = r0; r <= r1; r++)
				region_get(&sh->regions[r], direct);
			rc = pwrite_full(sh->fd_buf, buf, len, off);
			err = errno;
		}
		for (uint64_t r = r0; r <= r1; r++)
			region_put(&sh->regions[r], direct);
		errno = err;
		if (rc) {
			w->err = errno;
			snprintf(w->errmsg, sizeof(w->errmsg),
				 "%s write of %" PRIu64 " bytes at byte %" PRIu64 ": %s",
				 direct ? "O_DIRECT" : "buffered", len, off, strerror(errno));
			atomic_store(&sh->failed, 1);
			break;
		}
		for (uint64_t s = off / SECTOR; s < (off + len) / SECTOR; s++)
			atomic_store_explicit(&sh->map.gen[s], (uint32_t)sh->key.gen,
					      memory_order_relaxed);
		w->ops++;
		w->bytes += len;
		w->direct_ops += (uint64_t)direct;
		w->big_ops += len > (1u << 20);
		w->small_ops += len < BLOCK;
		w->unaligned_ops += (off % BLOCK) || (len % BLOCK);
		if (!direct && o->fsync_every && ++since_fsync >= o->fsync_every) {
			since_fsync = 0;
			w->fsyncs++;
			if (fsync(sh->fd_buf)) {
				w->err = errno;
				snprintf(w->errmsg, sizeof(w->errmsg), "fsync: %s", strerror(errno));
				atomic_store(&sh->failed, 1);
				break;
			}
		}
	}
	free(buf);
	return NULL;
}

static int cmd_overwrite(struct opts *o)
{
	struct ow_shared sh;
	struct ow_worker *w;
	pthread_t th[256];
	struct sigaction sa;
	int is_blk;
	double t0 = now_s();

	need_args(o, 1, 1, "one target");
	if (!o->have_seed)
		usage_error("--seed is required");
	if (!o->have_ops && o->seconds <= 0)
		usage_error("--ops N or --seconds S is required");
	if (o->max_io < SECTOR || o->max_io % SECTOR || o->max_io > (1u << 30))
		usage_error("--max-io: a multiple of 512 up to 1 GiB");
	if (o->min_io < SECTOR || o->min_io % SECTOR || o->min_io > o->max_io)
		usage_error("--min-io: a multiple of 512, at most --max-io");
	memset(&sh, 0, sizeof(sh));
	sh.o = o;
	sh.path = o->args[0];
	sh.key = key_of(o, sh.path);
	if (sh.key.gen > UINT32_MAX)
		usage_error("--gen: at most 2^32-1 for overwrite (the map holds u32)");
	sh.fd_buf = open(sh.path, O_RDWR | O_CLOEXEC);
	if (sh.fd_buf < 0)
		die("%s: open: %s", sh.path, strerror(errno));
	sh.size = fd_size(sh.fd_buf, sh.path, &is_blk) / SECTOR * SECTOR;
	if (sh.size < BLOCK)
		die("%s: too small", sh.path);
	sh.fd_direct = -1;
	sh.dio_align = SECTOR;
	if (o->direct) {
		sh.fd_direct = open(sh.path, O_RDWR | O_CLOEXEC | O_DIRECT);
		if (sh.fd_direct < 0)
			die("%s: O_DIRECT open: %s (needed by --direct)", sh.path, strerror(errno));
		if (is_blk) {
			int lbs = 0;

			if (ioctl(sh.fd_buf, BLKSSZGET, &lbs) == 0 && lbs > (int)SECTOR)
				sh.dio_align = (unsigned)lbs;
		}
	}
	uint64_t nregions = ((sh.size - 1) >> REGION_SHIFT) + 1;

	sh.regions = calloc(nregions, sizeof(*sh.regions));
	if (!sh.regions)
		die("out of memory");
	for (uint64_t r = 0; r < nregions; r++) {
		pthread_mutex_init(&sh.regions[r].lock, NULL);
		pthread_cond_init(&sh.regions[r].cond, NULL);
	}
	if (o->map)
		map_load(&sh.map, o->map, sh.size / SECTOR, 0);
	else
		sh.map.gen = calloc(sh.size / SECTOR, sizeof(*sh.map.gen));
	if (!sh.map.gen)
		die("out of memory");
	sh.deadline = t0 + o->seconds;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	w = calloc(o->threads, sizeof(*w));
	if (!w)
		die("out of memory");
	for (unsigned i = 0; i < o->threads; i++) {
		w[i].sh = &sh;
		w[i].idx = i;
		w[i].rng = mix64(o->seed ^ mix64(i + 1));
		w[i].ops_todo = o->ops / o->threads + (i < o->ops % o->threads);
		if (pthread_create(&th[i], NULL, ow_thread, &w[i]))
			die("pthread_create failed");
	}
	uint64_t ops = 0, bytes = 0, dops = 0, big = 0, small = 0, unal = 0, fs = 0;
	int err = 0;

	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(th[i], NULL);
		ops += w[i].ops;
		bytes += w[i].bytes;
		dops += w[i].direct_ops;
		big += w[i].big_ops;
		small += w[i].small_ops;
		unal += w[i].unaligned_ops;
		fs += w[i].fsyncs;
		if (w[i].err) {
			fprintf(stderr, "%s: %s: thread %u: %s\n", prog, sh.path, i, w[i].errmsg);
			err = 1;
		}
	}
	if (fsync(sh.fd_buf)) {
		fprintf(stderr, "%s: %s: final fsync: %s\n", prog, sh.path, strerror(errno));
		err = 1;
	}
	/* The map records what was written, even after an error or a signal. */
	if (o->map)
		map_save(&sh.map);
	close(sh.fd_buf);
	if (sh.fd_direct >= 0)
		close(sh.fd_direct);
	double dt = now_s() - t0;

	if (!o->quiet)
		printf("overwrote %s: %" PRIu64 " writes, %.1f MiB in %.1f s (%.1f MiB/s), "
		       "gen %" PRIu64 ", %" PRIu64 " O_DIRECT, %" PRIu64 " > 1 MiB, %" PRIu64
		       " < 4 KiB, %" PRIu64 " not 4 KiB aligned, %" PRIu64 " fsyncs, %u threads%s\n",
		       sh.path, ops, (double)bytes / 1048576.0, dt,
		       dt > 0 ? (double)bytes / 1048576.0 / dt : 0.0, sh.key.gen, dops, big,
		       small, unal, fs, o->threads, atomic_load(&stop_flag) ? ", stopped by a signal" : "");
	free(w);
	return err;
}

/* ----------------------------------------------------------------- verify */

enum kind {
	K_OK, K_ZERO_OK, K_ZERO, K_NOT_STAMP, K_BAD_CRC, K_WRONG_ID, K_WRONG_NONCE,
	K_WRONG_LBA, K_WRONG_GEN, K_BAD_PAYLOAD, K_NR
};

static const char *const kind_name[K_NR] = {
	"ok", "zero (allowed)", "zero", "not a stamp", "bad crc", "wrong id",
	"wrong nonce", "wrong lba", "wrong generation", "bad payload",
};

static enum kind check_sector(const uint8_t *s, uint64_t lba, const struct stamp_key *k,
			      uint8_t *scratch)
{
	if (get_le64(s) != STAMP_MAGIC)
		return is_zero(s, SECTOR) ? K_ZERO : K_NOT_STAMP;
	if (crc32c(0, s, OFF_CRC) != get_le32(s + OFF_CRC))
		return K_BAD_CRC;
	if (get_le64(s + 32) != k->id)
		return K_WRONG_ID;
	if (get_le64(s + 24) != k->nonce)
		return K_WRONG_NONCE;
	if (get_le64(s + 8) != lba)
		return K_WRONG_LBA;
	if (get_le64(s + 16) != k->gen)
		return K_WRONG_GEN;
	stamp_sector(scratch, lba, k);
	return memcmp(s, scratch, SECTOR) ? K_BAD_PAYLOAD : K_OK;
}

static int cmd_verify(struct opts *o)
{
	struct target t;
	struct stamp_key base, k;
	struct gen_map map = { 0 };
	struct ranges zr = { 0 };
	uint64_t counts[K_NR] = { 0 }, len, bad = 0, first_bad = UINT64_MAX, last_bad = 0;
	unsigned reported = 0;
	uint8_t *buf = xmalloc_aligned(CHUNK), scratch[SECTOR];
	double t0 = now_s();

	need_args(o, 1, 1, "one target");
	base = key_of(o, o->args[0]);
	target_open(&t, o->args[0], O_RDONLY, o->direct ? 1 : (o->buffered ? 0 : -1));
	len = o->have_length ? o->length : t.size;
	if (len > t.size)
		die("%s: --length %" PRIu64 " beyond its size %" PRIu64, t.path, len, t.size);
	if (len % SECTOR)
		die("%s: length %" PRIu64 " is not a multiple of 512", t.path, len);
	if (o->map)
		map_load(&map, o->map, len / SECTOR, 1);
	if (o->zero_ranges)
		ranges_read(&zr, o->zero_ranges);
	for (uint64_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;

		pread_full(&t, buf, n, off);
		for (size_t i = 0; i < n; i += SECTOR) {
			uint64_t lba = (off + i) / SECTOR;
			uint32_t mg = o->map ? atomic_load_explicit(&map.gen[lba],
								    memory_order_relaxed) : 0;
			enum kind kd;

			k = base;
			if (mg)
				k.gen = mg;
			kd = check_sector(buf + i, lba, &k, scratch);
			if (kd == K_ZERO && (o->allow_zero || ranges_contain(&zr, lba)))
				kd = K_ZERO_OK;
			counts[kd]++;
			if (kd == K_OK || kd == K_ZERO_OK)
				continue;
			bad++;
			if (lba < first_bad)
				first_bad = lba;
			last_bad = lba;
			if (reported < o->max_report) {
				char found[200];

				reported++;
				describe(buf + i, found, sizeof(found));
				printf("MISMATCH %s: lba %" PRIu64 " (byte %" PRIu64 "): %s; "
				       "expected lba=%" PRIu64 " gen=%" PRIu64 " nonce=%#" PRIx64
				       " id=%#" PRIx64 "; found %s\n",
				       t.path, lba, lba * SECTOR, kind_name[kd], lba, k.gen,
				       k.nonce, k.id, found);
			}
		}
		drop_cache(&t, off, n);
	}
	close(t.fd);
	if (bad) {
		printf("FAIL %s: %" PRIu64 " of %" PRIu64 " sectors bad (first lba %" PRIu64
		       ", last lba %" PRIu64 "):", t.path, bad, len / SECTOR, first_bad, last_bad);
		for (int i = K_ZERO; i < K_NR; i++)
			if (counts[i])
				printf(" %s %" PRIu64 ";", kind_name[i], counts[i]);
		printf(" ok %" PRIu64 "\n", counts[K_OK]);
	} else if (!o->quiet) {
		printf("OK %s: %" PRIu64 " sectors verified (%" PRIu64 " allowed zero), "
		       "base gen %" PRIu64 "%s, %.1f s\n",
		       t.path, len / SECTOR, counts[K_ZERO_OK], base.gen,
		       o->map ? " + map" : "", now_s() - t0);
	}
	free(buf);
	free(map.gen);
	free(zr.r);
	return bad ? 1 : 0;
}

/* --------------------------------------------------------------- checksum */

#define DIGEST_MAGIC 0x5453474944534e42ull /* "BNSDIGST" */

static uint64_t block_digest(const uint8_t *p, size_t n)
{
	struct xxh64 x;

	xxh64_init(&x, 0x62736e6170ull);
	xxh64_update(&x, p, n);
	return xxh64_final(&x);
}

/*
 * xxh64 of all bytes (printed with the length), and optionally one xxh64 per
 * 4 KiB block: --blocks-out F saves them, --blocks-check F compares against a
 * saved list and names the blocks that changed, with what they hold now.
 * With --blocks-check, --zero-ranges F names sectors that may have turned to
 * zeros (a snapshot's free space after CoW growth): a changed block wholly in
 * them that now reads as zeros is counted as zeroed, not as changed.
 */
static int cmd_checksum(struct opts *o)
{
	struct target t;
	struct xxh64 x;
	uint64_t len, nblocks, changed = 0, zeroed = 0, first = UINT64_MAX, last = 0;
	uint64_t *digests = NULL;
	struct ranges zr = { 0 };
	uint8_t *buf = xmalloc_aligned(CHUNK);
	unsigned reported = 0;
	FILE *f;

	need_args(o, 1, 1, "one target");
	if (o->blocks_out && o->blocks_check)
		usage_error("--blocks-out and --blocks-check exclude each other");
	if (o->zero_ranges && !o->blocks_check)
		usage_error("checksum: --zero-ranges goes with --blocks-check");
	if (o->zero_ranges)
		ranges_read(&zr, o->zero_ranges);
	target_open(&t, o->args[0], O_RDONLY, o->direct ? 1 : (o->buffered ? 0 : -1));
	len = o->have_length ? o->length : t.size;
	if (len > t.size)
		die("%s: --length beyond its size %" PRIu64, t.path, t.size);
	nblocks = (len + BLOCK - 1) / BLOCK;
	if (o->blocks_out || o->blocks_check) {
		if (len % SECTOR)
			die("%s: length not a multiple of 512", t.path);
		digests = calloc(nblocks ? nblocks : 1, sizeof(*digests));
		if (!digests)
			die("out of memory");
	}
	if (o->blocks_check) {
		uint8_t hdr[24], b8[8];

		f = fopen(o->blocks_check, "rb");
		if (!f)
			die("%s: %s", o->blocks_check, strerror(errno));
		if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || get_le64(hdr) != DIGEST_MAGIC)
			die("%s: not a bsnap-stamp block digest list", o->blocks_check);
		if (get_le64(hdr + 8) != len)
			die("%s: digests of %" PRIu64 " bytes, %s has %" PRIu64, o->blocks_check,
			    get_le64(hdr + 8), t.path, len);
		for (uint64_t i = 0; i < nblocks; i++) {
			if (fread(b8, 1, 8, f) != 8)
				die("%s: short digest list", o->blocks_check);
			digests[i] = get_le64(b8);
		}
		fclose(f);
	}
	xxh64_init(&x, 0);
	for (uint64_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		size_t rd = t.direct ? (n + SECTOR - 1) / SECTOR * SECTOR : n;

		pread_full(&t, buf, rd, off);
		xxh64_update(&x, buf, n);
		for (size_t i = 0; digests && i < n; i += BLOCK) {
			uint64_t blk = (off + i) / BLOCK;
			size_t bn = n - i < BLOCK ? n - i : BLOCK;
			uint64_t d = block_digest(buf + i, bn);

			if (o->blocks_out) {
				digests[blk] = d;
				continue;
			}
			if (d == digests[blk])
				continue;
			if (zr.n && is_zero(buf + i, bn) && ranges_contain(&zr, blk * 8) &&
			    ranges_contain(&zr, blk * 8 + bn / SECTOR - 1)) {
				zeroed++;
				continue;
			}
			changed++;
			if (blk < first)
				first = blk;
			last = blk;
			if (reported++ < o->max_report) {
				char desc[200];

				printf("CHANGED %s: 4k block %" PRIu64 " (lba %" PRIu64 "..%" PRIu64 ") now:\n",
				       t.path, blk, blk * 8, blk * 8 + bn / SECTOR - 1);
				for (size_t sct = 0; sct < bn; sct += SECTOR) {
					describe(buf + i + sct, desc, sizeof(desc));
					printf("    lba %" PRIu64 ": %s\n", (off + i + sct) / SECTOR, desc);
				}
			}
		}
		drop_cache(&t, off, n);
	}
	printf("xxh64:%016" PRIx64 " %" PRIu64 " %s\n", xxh64_final(&x), len, t.path);
	if (o->blocks_out) {
		uint8_t hdr[24], b8[8];

		f = fopen(o->blocks_out, "wb");
		if (!f)
			die("%s: %s", o->blocks_out, strerror(errno));
		put_le64(hdr, DIGEST_MAGIC);
		put_le64(hdr + 8, len);
		put_le64(hdr + 16, BLOCK);
		fwrite(hdr, 1, sizeof(hdr), f);
		for (uint64_t i = 0; i < nblocks; i++) {
			put_le64(b8, digests[i]);
			fwrite(b8, 1, 8, f);
		}
		if (fflush(f) || fclose(f))
			die("%s: write: %s", o->blocks_out, strerror(errno));
	}
	if (o->zero_ranges)
		printf("zeroed %" PRIu64 " 4k blocks of %s's --zero-ranges\n", zeroed, t.path);
	if (o->blocks_check) {
		if (changed)
			printf("FAIL %s: %" PRIu64 " of %" PRIu64 " 4k blocks changed since %s "
			       "(first block %" PRIu64 ", last %" PRIu64 ")\n", t.path, changed,
			       nblocks, o->blocks_check, first, last);
		else if (!o->quiet)
			printf("OK %s: all %" PRIu64 " 4k blocks unchanged since %s%s\n", t.path,
			       nblocks, o->blocks_check, zeroed ? " or zeroed in --zero-ranges" : "");
	}
	close(t.fd);
	free(buf);
	free(digests);
	free(zr.r);
	return changed ? 1 : 0;
}

/* ---------------------------------------------------------------- compare */

static int is_stamp(const uint8_t *s)
{
	return get_le64(s) == STAMP_MAGIC;
}

/*
 * compare A B: bit for bit, sector by sector.
 * --zero-ranges F: in these sectors A must hold zeros, whatever B holds (the
 *   CoW file's own blocks read as zeros in a snapshot image).
 * --tolerate-nonstamp N: up to N differing sectors are accepted where neither
 *   side is a stamp (filesystem metadata that a mounted filesystem rewrites by
 *   itself, e.g. the superblock or log written when it is thawed after the
 *   snapshot point); each is still listed. A stamp on either side is never
 *   tolerated, so file data and (stamped) free space must match exactly.
 */
static int cmd_compare(struct opts *o)
{
	struct target a, b;
	struct ranges zr = { 0 };
	uint64_t len, diff = 0, nranges = 0, prev = UINT64_MAX - 1, tolerated = 0;
	uint64_t zero_checked = 0;
	unsigned reported = 0, reported_tol = 0;
	uint8_t *ba = xmalloc_aligned(CHUNK), *bb = xmalloc_aligned(CHUNK);
	int rc = 0;
	double t0 = now_s();

	need_args(o, 2, 2, "two targets: <image> <reference>");
	target_open(&a, o->args[0], O_RDONLY, o->direct ? 1 : (o->buffered ? 0 : -1));
	target_open(&b, o->args[1], O_RDONLY, o->direct ? 1 : (o->buffered ? 0 : -1));
	if (o->zero_ranges)
		ranges_read(&zr, o->zero_ranges);
	if (o->have_length) {
		len = o->length;
		if (len > a.size || len > b.size)
			die("--length %" PRIu64 " beyond %s (%" PRIu64 ") or %s (%" PRIu64 ")",
			    len, a.path, a.size, b.path, b.size);
	} else {
		len = a.size < b.size ? a.size : b.size;
		if (a.size != b.size) {
			printf("DIFFER sizes: %s %" PRIu64 " bytes, %s %" PRIu64 " bytes\n",
			       a.path, a.size, b.path, b.size);
			rc = 1;
		}
	}
	if (len % SECTOR)
		die("length %" PRIu64 " is not a multiple of 512", len);
	for (uint64_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		int any_zero_range = 0;

		for (size_t r = 0; r < zr.n; r++)
			if (zr.r[r].start * SECTOR < off + n &&
			    (zr.r[r].start + zr.r[r].count) * SECTOR > off)
				any_zero_range = 1;
		pread_full(&a, ba, n, off);
		pread_full(&b, bb, n, off);
		if (!any_zero_range && !memcmp(ba, bb, n)) {
			drop_cache(&a, off, n);
			drop_cache(&b, off, n);
			continue;
		}
		for (size_t i = 0; i < n; i += SECTOR) {
			uint64_t lba = (off + i) / SECTOR;
			int in_zero = any_zero_range && ranges_contain(&zr, lba);
			int tol = 0;
			char da[200], db[200];

			if (in_zero) {
				zero_checked++;
				if (is_zero(ba + i, SECTOR))
					continue;
			} else {
				if (!memcmp(ba + i, bb + i, SECTOR))
					continue;
				tol = !is_stamp(ba + i) && !is_stamp(bb + i) &&
				      tolerated < o->tolerate_nonstamp;
			}
			if (tol) {
				tolerated++;
				if (reported_tol++ < o->max_report) {
					describe(ba + i, da, sizeof(da));
					describe(bb + i, db, sizeof(db));
					printf("TOLERATED lba %" PRIu64 " (4k block %" PRIu64 "): "
					       "metadata on both sides: %s has %s; %s has %s\n",
					       lba, lba / 8, a.path, da, b.path, db);
				}
				continue;
			}
			diff++;
			if (lba != prev + 1)
				nranges++;
			prev = lba;
			if (reported < o->max_report) {
				reported++;
				describe(ba + i, da, sizeof(da));
				describe(bb + i, db, sizeof(db));
				if (in_zero)
					printf("DIFFER lba %" PRIu64 " (byte %" PRIu64 ", 4k block %"
					       PRIu64 "): %s has %s; expected zeros (a --zero-ranges "
					       "sector; %s has %s)\n",
					       lba, lba * SECTOR, lba / 8, a.path, da, b.path, db);
				else
					printf("DIFFER lba %" PRIu64 " (byte %" PRIu64 ", 4k block %"
					       PRIu64 "): %s has %s; %s has %s\n",
					       lba, lba * SECTOR, lba / 8, a.path, da, b.path, db);
			}
		}
		drop_cache(&a, off, n);
		drop_cache(&b, off, n);
	}
	if (diff) {
		printf("FAIL %s and %s differ in %" PRIu64 " of %" PRIu64 " sectors "
		       "(%" PRIu64 " ranges)%s\n", a.path, b.path, diff, len / SECTOR, nranges,
		       tolerated ? " beyond the tolerated metadata sectors" : "");
		rc = 1;
	} else if (!o->quiet) {
		printf("%s %s and %s: %" PRIu64 " bytes %s", rc ? "FAIL" : "OK", a.path, b.path,
		       len, rc ? "equal but sizes differ" : "identical");
		if (zr.n)
			printf(" (%" PRIu64 " sectors zero as required)", zero_checked);
		if (tolerated)
			printf(" except %" PRIu64 " tolerated metadata sectors", tolerated);
		printf(", %.1f s\n", now_s() - t0);
	}
	close(a.fd);
	close(b.fd);
	free(ba);
	free(bb);
	free(zr.r);
	return rc;
}

/* ------------------------------------------------------- extents and zero */

static int cmd_extents(struct opts *o)
{
	struct ranges rs = { 0 };
	uint64_t flags, total = 0;

	need_args(o, 1, 1, "one file");
	file_extents(o->args[0], &rs, &flags);
	printf("# physical extents of %s in 512-byte sectors of its filesystem's device\n",
	       o->args[0]);
	printf("# start_sector sector_count\n");
	for (size_t i = 0; i < rs.n; i++) {
		printf("%" PRIu64 " %" PRIu64 "\n", rs.r[i].start, rs.r[i].count);
		total += rs.r[i].count;
	}
	printf("# %zu extents, %" PRIu64 " sectors%s\n", rs.n, total,
	       (flags & FIEMAP_EXTENT_SHARED) ? ", some shared (reflink)" : "");
	free(rs.r);
	return 0;
}

static int cmd_zero_extents(struct opts *o)
{
	struct ranges rs = { 0 };
	uint64_t flags, total = 0;
	struct target t;
	uint8_t *zero;

	if (o->ranges) {
		need_args(o, 1, 1, "<copy> --ranges FILE");
		ranges_read(&rs, o->ranges);
	} else {
		need_args(o, 2, 2, "<copy> <file-on-origin>");
		file_extents(o->args[1], &rs, &flags);
	}
	target_open(&t, o->args[0], O_WRONLY, 0);
	zero = xmalloc_aligned(CHUNK);
	memset(zero, 0, CHUNK);
	for (size_t i = 0; i < rs.n; i++) {
		uint64_t off = rs.r[i].start * SECTOR, len = rs.r[i].count * SECTOR;

		if (off + len > t.size)
			die("%s: range %" PRIu64 "+%" PRIu64 " sectors beyond its end",
			    t.path, rs.r[i].start, rs.r[i].count);
		for (uint64_t done = 0; done < len; done += CHUNK) {
			size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;

			if (pwrite_full(t.fd, zero, n, off + done))
				die("%s: write: %s", t.path, strerror(errno));
		}
		total += rs.r[i].count;
	}
	if (fsync(t.fd))
		die("%s: fsync: %s", t.path, strerror(errno));
	close(t.fd);
	if (!o->quiet)
		printf("zeroed %zu ranges, %" PRIu64 " sectors (%.1f MiB) in %s\n", rs.n, total,
		       (double)total * SECTOR / 1048576.0, t.path);
	free(zero);
	free(rs.r);
	return 0;
}

/* ------------------------------------------------------------------- dump */

static int cmd_dump(struct opts *o)
{
	struct target t;
	uint64_t lba, count = 1;
	uint8_t *buf = xmalloc_aligned(SECTOR);

	need_args(o, 2, 3, "<target> <lba> [count]");
	if (parse_size(o->args[1], &lba) || (o->nargs == 3 && parse_size(o->args[2], &count)))
		usage_error("bad lba or count");
	target_open(&t, o->args[0], O_RDONLY, o->direct ? 1 : (o->buffered ? 0 : -1));
	for (uint64_t i = 0; i < count && (lba + i + 1) * SECTOR <= t.size; i++) {
		char d[200];

		pread_full(&t, buf, SECTOR, (lba + i) * SECTOR);
		describe(buf, d, sizeof(d));
		printf("%" PRIu64 ": %s\n", lba + i, d);
	}
	close(t.fd);
	free(buf);
	return 0;
}

/* --------------------------------------------------------------- selftest */

static int cmd_selftest(struct opts *o)
{
	static const uint8_t v[] = "123456789";
	struct xxh64 x;
	uint64_t h_empty, h_abc, h_long, h_split;
	uint8_t big[1000], s[SECTOR], scratch[SECTOR];
	struct stamp_key k = { 7, 0x1234, 0 };
	int bad = 0;

	(void)o;
	xxh64_init(&x, 0);
	h_empty = xxh64_final(&x);
	xxh64_update(&x, (const uint8_t *)"abc", 3);
	h_abc = xxh64_final(&x);
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	xxh64_init(&x, 0);
	xxh64_update(&x, big, sizeof(big));
	h_long = xxh64_final(&x);
	xxh64_init(&x, 0);
	xxh64_update(&x, big, 5);
	xxh64_update(&x, big + 5, 40);
	xxh64_update(&x, big + 45, sizeof(big) - 45);
	h_split = xxh64_final(&x);
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("selftest FAIL: " __VA_ARGS__);                \
			printf("\n");                                         \
			bad = 1;                                              \
		}                                                             \
	} while (0)
	CHECK(crc32c(0, v, 9) == 0xe3069283u, "crc32c('123456789') = %#x", crc32c(0, v, 9));
	CHECK(h_empty == 0xef46db3751d8e999ull, "xxh64('') = %016" PRIx64, h_empty);
	CHECK(h_abc == 0x44bc2cf5ad770999ull, "xxh64('abc') = %016" PRIx64, h_abc);
	CHECK(h_long == h_split, "xxh64 streaming differs");
	stamp_sector(s, 99, &k);
	CHECK(check_sector(s, 99, &k, scratch) == K_OK, "fresh stamp does not verify");
	CHECK(check_sector(s, 98, &k, scratch) == K_WRONG_LBA, "lba not checked");
	s[100] ^= 1;
	CHECK(check_sector(s, 99, &k, scratch) == K_BAD_CRC, "crc not checked");
	printf("xxh64 of the 1000-byte pattern: %016" PRIx64 "\n", h_long);
	printf("selftest %s\n", bad ? "FAILED" : "ok");
	return bad;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s COMMAND [options] ARGS\n"
"  fill <target> --gen G --nonce N [--threads T] [--length BYTES] [--map F]\n"
"      stamp every sector of a device or file (--size BYTES sets a file's size)\n"
"  fill-file <path> --gen G --nonce N --size BYTES [--id ID]\n"
"      create or refill a file on a mounted filesystem (id = hash of basename)\n"
"  overwrite <target> --gen G --nonce N --seed X (--seconds S | --ops N)\n"
"            [--threads N] [--direct] [--max-io BYTES] [--min-io BYTES]\n"
"            [--fsync-every N] [--map F]\n"
"      concurrent random overwrites with new-generation stamps, 512 B .. max-io\n"
"      (default 4 MiB); with --direct half of them O_DIRECT; the rest buffered\n"
"      with an fsync every N writes; --map F records which sectors got gen G\n"
"  overwrite-file <path> ...          same, for a file (id = hash of basename)\n"
"  verify <target> --gen G --nonce N [--map F] [--allow-zero-ranges F]\n"
"         [--allow-zero] [--length BYTES] [--max-report N]\n"
"      check every sector: crc, id, nonce, own lba, generation (G, or the map's)\n"
"  verify-file <path> ...             same, for a file (id = hash of basename)\n"
"  checksum <target> [--length BYTES] [--blocks-out F | --blocks-check F]\n"
"         [--zero-ranges F]\n"
"      xxh64 of all bytes + length; per 4 KiB block digests saved or checked\n"
"      (--blocks-check names the blocks that changed and what they hold now;\n"
"      changed blocks in --zero-ranges that read as zeros are counted apart)\n"
"  compare <a> <b> [--length BYTES] [--zero-ranges F] [--tolerate-nonstamp N]\n"
"      bit for bit, reports differing sectors decoded; in --zero-ranges <a>\n"
"      must hold zeros; up to N differing sectors where neither side is a\n"
"      stamp (filesystem metadata) are listed but accepted\n"
"  extents <file>                     FIEMAP as 'start_sector count' lines\n"
"  zero-extents <copy> <file> | <copy> --ranges F\n"
"      zero in <copy> the sectors the file occupies on its device\n"
"  dump <target> <lba> [count]        decode sectors\n"
"  selftest                           crc32c/xxh64 known answers\n"
"Numbers take K/M/G suffixes (1024) or s (sectors). Block devices are read\n"
"with O_DIRECT. Exit: 0 ok, 1 mismatch or error, 2 usage.\n", prog);
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	crc32c_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	parse_opts(argc - 1, argv + 1, &o);
	if (!strcmp(cmd, "fill"))
		return cmd_fill(&o);
	if (!strcmp(cmd, "fill-file")) {
		o.file_mode = 1;
		if (!o.have_size) {
			struct stat st;

			if (o.nargs != 1 || stat(o.args[0], &st) || !S_ISREG(st.st_mode))
				usage_error("fill-file: --size is required for a new file");
		}
		o.buffered = 1;
		return cmd_fill(&o);
	}
	if (!strcmp(cmd, "overwrite"))
		return cmd_overwrite(&o);
	if (!strcmp(cmd, "overwrite-file")) {
		o.file_mode = 1;
		return cmd_overwrite(&o);
	}
	if (!strcmp(cmd, "verify"))
		return cmd_verify(&o);
	if (!strcmp(cmd, "verify-file")) {
		o.file_mode = 1;
		return cmd_verify(&o);
	}
	if (!strcmp(cmd, "checksum"))
		return cmd_checksum(&o);
	if (!strcmp(cmd, "compare"))
		return cmd_compare(&o);
	if (!strcmp(cmd, "extents"))
		return cmd_extents(&o);
	if (!strcmp(cmd, "zero-extents"))
		return cmd_zero_extents(&o);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(&o);
	if (!strcmp(cmd, "selftest"))
		return cmd_selftest(&o);
	usage_error("unknown command '%s'", cmd);
	return 2;
}
