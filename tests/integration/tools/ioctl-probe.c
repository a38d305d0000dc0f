// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl-probe: issue one raw ioctl on a device and report the result, for
 * guest tests that check how the module answers bad or unusual calls.
 *
 *   ioctl-probe [-d DEV] [-f r|w|rw] [-u UID] [-n COUNT] REQUEST [ARG]
 *
 * REQUEST: a name from bsnap.h without BSNAP_IOC_ (VERSION, INFO, ...), a
 * number (0x...), or io:TYPE:NR, ior:TYPE:NR:SIZE, iow:..., iowr:... .
 * ARG:
 *   none                 0 (the default)
 *   ptr:ADDR             this raw pointer value
 *   unmapped             a pointer into a page that is no longer mapped
 *   buf[:SIZE[:SIZEFIELD[:OFF=BYTE,...]]]
 *                        a zeroed buffer of SIZE bytes (default: the struct of
 *                        a named REQUEST) that ends right before an
 *                        inaccessible page, its first __u32 set to SIZEFIELD
 *                        (default SIZE), the given bytes poked in
 *   ro[:SIZE[:SIZEFIELD]] the same in a read-only page
 * -u UID drops to that uid and gid (no groups) after opening, before the ioctl.
 * -n COUNT issues the ioctl COUNT times (stopping at the first failure).
 *
 * Prints "OK <ret> size=<size field after>" (and "abi=.. version=.." for
 * VERSION), or "open <ERRNO>" / "ioctl <ERRNO>". Exits 0 on success, with the
 * errno on failure, 255 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bsnap.h"

#define USAGE_EXIT 255

static const struct {
	const char *name;
	unsigned long req;
	size_t size;
} requests[] = {
	{ "VERSION", BSNAP_IOC_VERSION, sizeof(struct bsnap_version) },
	{ "SETUP_SNAPSHOT", BSNAP_IOC_SETUP_SNAPSHOT, sizeof(struct bsnap_setup) },
	{ "RELOAD_SNAPSHOT", BSNAP_IOC_RELOAD_SNAPSHOT, sizeof(struct bsnap_setup) },
	{ "RELOAD_INCREMENTAL", BSNAP_IOC_RELOAD_INCREMENTAL, sizeof(struct bsnap_setup) },
	{ "DESTROY", BSNAP_IOC_DESTROY, sizeof(struct bsnap_minor_arg) },
	{ "TRANSITION_INCREMENTAL", BSNAP_IOC_TRANSITION_INCREMENTAL,
	  sizeof(struct bsnap_minor_arg) },
	{ "TRANSITION_SNAPSHOT", BSNAP_IOC_TRANSITION_SNAPSHOT,
	  sizeof(struct bsnap_transition_snapshot) },
	{ "RECONFIGURE", BSNAP_IOC_RECONFIGURE, sizeof(struct bsnap_reconfigure) },
	{ "INFO", BSNAP_IOC_INFO, sizeof(struct bsnap_info) },
	{ "GET_FREE_MINOR", BSNAP_IOC_GET_FREE_MINOR, sizeof(struct bsnap_minor_arg) },
};

static void usage(const char *msg)
{
	fprintf(stderr, "ioctl-probe: %s\nusage: ioctl-probe [-d DEV] [-f r|w|rw] [-u UID] [-n COUNT] "
			"REQUEST [none|ptr:ADDR|unmapped|buf[:SIZE[:SIZEFIELD[:OFF=BYTE,...]]]|"
			"ro[:SIZE[:SIZEFIELD]]]\n", msg);
	exit(USAGE_EXIT);
}

static unsigned long number(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end)
		usage("bad number");
	return v;
}

static unsigned long parse_request(char *s, size_t *size)
{
	char *dir, *type, *nr, *sz;

	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		if (!strcmp(s, requests[i].name)) {
			*size = requests[i].size;
			return requests[i].req;
		}
	}
	if (!strchr(s, ':'))
		return number(s);
	dir = strtok(s, ":");
	type = strtok(NULL, ":");
	nr = strtok(NULL, ":");
	sz = strtok(NULL, ":");
	if (!dir || !type || !nr)
		usage("bad request");
	if (!strcmp(dir, "io"))
		return _IOC(_IOC_NONE, number(type), number(nr), 0);
	if (!sz)
		usage("request needs a size");
	*size = number(sz);
	if (!strcmp(dir, "ior"))
		return _IOC(_IOC_READ, number(type), number(nr), *size);
	if (!strcmp(dir, "iow"))
		return _IOC(_IOC_WRITE, number(type), number(nr), *size);
	if (!strcmp(dir, "iowr"))
		return _IOC(_IOC_READ | _IOC_WRITE, number(type), number(nr), *size);
	usage("bad request direction");
	return 0;
}

/* A buffer of size bytes that ends where an inaccessible page begins. */
static unsigned char *guarded_buffer(size_t size, int readonly, uint32_t size_field,
				     char *pokes)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size + page - 1) / page * page;
	unsigned char *map, *buf;

	if (size < sizeof(uint32_t))
		usage("buffer smaller than its size field");
	map = mmap(NULL, len + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || mprotect(map + len, page, PROT_NONE)) {
		perror("ioctl-probe: mmap");
		exit(USAGE_EXIT);
	}
	buf = map + len - size;
	memcpy(buf, &size_field, sizeof(size_field));
	for (char *p = pokes ? strtok(pokes, ",") : NULL; p; p = strtok(NULL, ",")) {
		char *eq = strchr(p, '=');
		size_t off;

		if (!eq)
			usage("poke is OFF=BYTE");
		*eq = 0;
		off = number(p);
		if (off >= size)
			usage("poke outside the buffer");
		buf[off] = (unsigned char)number(eq + 1);
	}
	if (readonly && mprotect(map, len, PROT_READ)) {
		perror("ioctl-probe: mprotect");
		exit(USAGE_EXIT);
	}
	return buf;
}

static void *parse_arg(char *s, size_t struct_size, unsigned char **buf)
{
	char *kind, *size_s, *field_s, *pokes;
	size_t size;

	if (!s)
		return NULL;
	kind = strtok(s, ":");
	size_s = strtok(NULL, ":");
	field_s = strtok(NULL, ":");
	pokes = strtok(NULL, "");
	if (!kind || !strcmp(kind, "none"))
		return NULL;
	if (!strcmp(kind, "ptr")) {
		if (!size_s)
			usage("ptr needs an address");
		return (void *)number(size_s);
	}
	if (!strcmp(kind, "unmapped")) {
		long page = sysconf(_SC_PAGESIZE);
		void *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || munmap(p, page))
			exit(USAGE_EXIT);
		return p;
	}
	if (strcmp(kind, "buf") && strcmp(kind, "ro"))
		usage("bad argument kind");
	size = size_s ? number(size_s) : struct_size;
	if (!size)
		usage("give the buffer's size");
	*buf = guarded_buffer(size, !strcmp(kind, "ro"),
			      field_s ? (uint32_t)number(field_s) : (uint32_t)size, pokes);
	return *buf;
}

static int report_errno(const char *what, int err)
{
	const char *name = strerrorname_np(err);

	printf("%s %s\n", what, name ? name : "?");
	return err;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/" BSNAP_CTL_NAME;
	int flags = O_RDWR, opt, fd;
	long uid = -1, ret = 0, count = 1;
	size_t struct_size = 0;
	unsigned long req;
	unsigned char *buf = NULL;
	void *arg;

	while ((opt = getopt(argc, argv, "+d:f:u:n:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'f':
			flags = !strcmp(optarg, "r") ? O_RDONLY : !strcmp(optarg, "w") ? O_WRONLY : O_RDWR;
			break;
		case 'u':
			uid = (long)number(optarg);
			break;
		case 'n':
			count = (long)number(optarg);
			break;
		default:
			usage("bad option");
		}
	}
	if (optind >= argc || argc - optind > 2)
		usage("give REQUEST [ARG]");
	req = parse_request(argv[optind], &struct_size);
	arg = parse_arg(optind + 1 < argc ? argv[optind + 1] : NULL, struct_size, &buf);

	fd = open(dev, flags | O_CLOEXEC);
	if (fd < 0)
		return report_errno("open", errno);
	if (uid >= 0 && (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))) {
		perror("ioctl-probe: dropping privileges");
		return USAGE_EXIT;
	}
	for (long i = 0; i < count && ret >= 0; i++)
		ret = ioctl(fd, req, arg);
	if (ret < 0)
		return report_errno("ioctl", errno);
	printf("OK %ld", ret);
	if (buf) {
		uint32_t size_field;

		memcpy(&size_field, buf, sizeof(size_field));
		printf(" size=%u", size_field);
		if (req == BSNAP_IOC_VERSION && size_field >= sizeof(struct bsnap_version)) {
			struct bsnap_version v;

			memcpy(&v, buf, sizeof(v));
			printf(" abi=%u version=%.*s", v.abi_version, (int)sizeof(v.version), v.version);
		}
	}
	printf("\n");
	return 0;
}
