/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A program that uses libbsnap the way backup software would, in plain C.
 * Built against the build tree (tests/libbsnap) and, in the package test,
 * against the installed libbsnap-dev through pkg-config:
 *
 *   cc -o bsnap-example bsnap-example.c $(pkg-config --cflags --libs bsnap)
 *
 *   bsnap-example setup BDEV COW MINOR   setup-snapshot (defaults)
 *   bsnap-example info MINOR             the device's state, one key=value line
 *   bsnap-example transition-incr MINOR  transition-to-incremental
 *   bsnap-example transition-snap COW MINOR
 *   bsnap-example destroy MINOR
 *   bsnap-example header FILE            a CoW file's header (also unclean)
 *   bsnap-example runs FILE              its header, then "FIRST COUNT" per run
 *
 * Exits with the errno of a failure, after one line on stderr with
 * bsnap_reason().
 */
#include <bsnap/libbsnap.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct bsnap_ctx *ctx;

static int fail(int ret)
{
	fprintf(stderr, "bsnap-example: %s (errno %d)\n", bsnap_reason(ctx), -ret);
	bsnap_ctx_free(ctx);
	return -ret;
}

static void print_uuid(const uint8_t *u)
{
	int i;

	for (i = 0; i < 16; i++)
		printf("%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", u[i]);
}

static int info(unsigned minor)
{
	struct bsnap_device_info d = { .size = sizeof(d) };
	int ret = bsnap_get_info(ctx, minor, &d);

	if (ret < 0)
		return ret;
	printf("minor=%u state=%u error=%d bdev=%s cow=%s seqid=%" PRIu64
	       " changed_blocks=%" PRIu64 " falloc_size=%" PRIu64 " cow_free_bytes=%" PRIu64
	       " uuid=",
	       d.minor, d.state, d.error, d.bdev, d.cow, d.seqid, d.changed_blocks,
	       d.falloc_size, d.cow_free_bytes);
	print_uuid(d.uuid);
	printf("\n");
	return 0;
}

static int cow(const char *path, int with_runs)
{
	struct bsnap_cow_file *f;
	struct bsnap_cow_file_info h = { .size = sizeof(h) };
	uint64_t first, count, total = 0;
	int ret;

	ret = bsnap_cow_file_open(ctx, path, with_runs ? 0 : BSNAP_COW_FILE_HEADER_ONLY, &f);
	if (ret < 0)
		return ret;
	bsnap_cow_file_get_info(f, &h);
	printf("version=%u seqid=%" PRIu64 " clean=%d recovered=%u superseded=%d block_size=%u"
	       " nr_blocks=%" PRIu64 " changed_blocks=%" PRIu64 " uuid=",
	       h.version, h.seqid, !!(h.flags & BSNAP_COW_CLEAN), h.recovered,
	       !!(h.flags & BSNAP_COW_SUPERSEDED), h.block_size, h.nr_blocks,
	       h.changed_blocks);
	print_uuid(h.uuid);
	printf("\n");
	while (with_runs && (ret = bsnap_cow_file_next_run(f, &first, &count)) == 1) {
		printf("%" PRIu64 " %" PRIu64 "\n", first, count);
		total += count;
	}
	bsnap_cow_file_close(f);
	if (ret < 0)
		return ret;
	if (with_runs && total != h.changed_blocks) {
		fprintf(stderr, "bsnap-example: runs hold %" PRIu64 " blocks, header says %" PRIu64 "\n",
			total, h.changed_blocks);
		return -74; /* EBADMSG */
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: bsnap-example setup|info|transition-incr|transition-snap|destroy|header|runs ARGS\n");
		return 64;
	}
	ret = bsnap_ctx_new(&ctx);
	if (ret < 0)
		return -ret;
	if (!strcmp(argv[1], "setup") && argc == 5)
		ret = bsnap_setup_snapshot(ctx, argv[2], argv[3], (unsigned)atoi(argv[4]), NULL);
	else if (!strcmp(argv[1], "info"))
		ret = info((unsigned)atoi(argv[2]));
	else if (!strcmp(argv[1], "transition-incr"))
		ret = bsnap_transition_to_incremental(ctx, (unsigned)atoi(argv[2]));
	else if (!strcmp(argv[1], "transition-snap") && argc == 4)
		ret = bsnap_transition_to_snapshot(ctx, (unsigned)atoi(argv[3]), argv[2], 0);
	else if (!strcmp(argv[1], "destroy"))
		ret = bsnap_destroy(ctx, (unsigned)atoi(argv[2]));
	else if (!strcmp(argv[1], "header"))
		ret = cow(argv[2], 0);
	else if (!strcmp(argv[1], "runs"))
		ret = cow(argv[2], 1);
	else {
		fprintf(stderr, "bsnap-example: unknown command or arguments: %s\n", argv[1]);
		bsnap_ctx_free(ctx);
		return 64;
	}
	if (ret < 0)
		return fail(ret);
	bsnap_ctx_free(ctx);
	return 0;
}
