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
 * The first bsnap_hook_get() installs the redirection and the passthrough
 * watch; they stay until bsnap_hook_exit() at module unload, which waits
 * until no task runs the redirected code any more. Removing and installing
 * them at every destroy and setup patched submit_bio_noacct's entry under
 * live I/O each time: a group test of 20 setup/destroy cycles saw both
 * CPUs stuck at submit_bio_noacct+0x0 in the 9th (TCG guest, not yet
 * explained, issue 16), so the patching now happens once per load. With
 * nothing traced a bio costs one table walk. Callers serialise get/put
 * (the control mutex); put only counts.
 */
int bsnap_hook_get(void);
void bsnap_hook_put(void);
/* Module unload, every tracer gone: remove what get installed. */
void bsnap_hook_exit(void);

/*
 * Wait until every hook invocation that may have seen a tracer that has
 * since been unpublished has finished.
 */
void bsnap_hook_sync(void);

#endif
