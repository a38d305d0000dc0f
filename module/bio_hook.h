/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where writes are intercepted: an ftrace redirection of submit_bio_noacct.
 *
 * Every bio submitted on the system passes bsnap_hook_bio(); bios submitted
 * from bsnap's own code (bsnap_submit_own) pass straight through, as do
 * reads and bios for devices that are not traced.
 */
#ifndef BSNAP_BIO_HOOK_H
#define BSNAP_BIO_HOOK_H

struct bio;

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

/* Submit a bio of bsnap's own, past the hook. */
void bsnap_submit_own(struct bio *bio);

#endif
