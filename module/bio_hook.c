// SPDX-License-Identifier: GPL-2.0
/*
 * Where writes are intercepted.
 *
 * An ftrace ops with IPMODIFY sits on submit_bio_noacct's entry and sends the
 * call to hooked_submit_bio_noacct() instead. That function calls the real
 * submit_bio_noacct() when it is done; the ftrace callback sees that call
 * come from module text and lets it through, which is also how every bio of
 * bsnap's own passes (bsnap_submit_own). Bios resubmitted by stacked drivers
 * (DM, MD, bio splitting) come from kernel text and are seen again.
 *
 * Lifetime: the redirected function runs inside an SRCU read section, so a
 * tracer unpublished from the table can be freed after bsnap_hook_sync(),
 * and removing the hook waits for tasks still inside module text.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/srcu.h>

#include "bio_hook.h"
#include "ftrace_redirect.h"
#include "tracer.h"

DEFINE_STATIC_SRCU(hook_srcu);

static unsigned int hook_users;

static void hooked_submit_bio_noacct(struct bio *bio)
{
	int idx = srcu_read_lock(&hook_srcu);

	if (!tracer_handle_bio(bio))
		submit_bio_noacct(bio);
	srcu_read_unlock(&hook_srcu, idx);
}

static struct fn_redirect bio_fns[] = {
	{ "submit_bio_noacct", hooked_submit_bio_noacct },
};
static FN_REDIRECT_SET(bio_redirect, bio_fns);

void bsnap_submit_own(struct bio *bio)
{
	submit_bio_noacct(bio);
}

static int hook_install(void)
{
	return fn_redirect_install(&bio_redirect);
}

static void hook_remove(void)
{
	fn_redirect_remove(&bio_redirect);
	synchronize_srcu(&hook_srcu);
	fn_redirect_settle();
}

int bsnap_hook_get(void)
{
	int ret;

	if (hook_users == 0) {
		ret = hook_install();
		if (ret)
			return ret;
	}
	hook_users++;
	return 0;
}

void bsnap_hook_put(void)
{
	if (WARN_ON_ONCE(hook_users == 0))
		return;
	if (--hook_users == 0)
		hook_remove();
}

void bsnap_hook_sync(void)
{
	synchronize_srcu(&hook_srcu);
}
