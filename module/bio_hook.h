/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where writes are intercepted: an ftrace redirection of submit_bio_noacct.
 *
 * Every bio submitted on the system is handed to the tracer (struct
 * bsnap_hook_ops); bios submitted from bsnap's own code (bsnap_submit_own,
 * direct_io.h) pass straight through, and the tracer lets reads and bios
 * of disks with nothing traced go at once.
 */
#ifndef BSNAP_BIO_HOOK_H
#define BSNAP_BIO_HOOK_H

#include <linux/types.h>

struct bio;
struct request;

/*
 * What the hook hands on, and to whom: the tracer's entry points, wired by
 * main.c, so that the hook depends on nothing above it.
 */
struct bsnap_hook_ops {
	/* True if the callee took @bio over (it submits it later). */
	bool (*bio)(struct bio *bio);
	/* A passthrough request is about to run. Atomic context. */
	void (*passthrough)(struct request *rq);
};

/* Before the first bsnap_hook_get(). */
void bsnap_hook_init(const struct bsnap_hook_ops *ops);

/*
 * The redirection is installed while at least one device is traced: the
 * first bsnap_hook_get() installs it, the last bsnap_hook_put() removes it
 * and waits until no task runs the redirected code any more. Callers
 * serialise get/put (the control mutex).
 */
int bsnap_hook_get(void);
void bsnap_hook_put(void);

/*
 * Wait until every hook invocation that may have seen a tracer that has
 * since been unpublished has finished.
 */
void bsnap_hook_sync(void);

#endif
