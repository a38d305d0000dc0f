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
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/srcu.h>

#include "bio_hook.h"
#include "compat.h"
#include "symbols.h"
#include "tracer.h"

DEFINE_STATIC_SRCU(hook_srcu);

static unsigned long hook_target;
static unsigned int hook_users;

static void hooked_submit_bio_noacct(struct bio *bio)
{
	int idx = srcu_read_lock(&hook_srcu);

	if (!tracer_handle_bio(bio))
		submit_bio_noacct(bio);
	srcu_read_unlock(&hook_srcu, idx);
}

static void notrace hook_callback(unsigned long ip, unsigned long parent_ip,
				  struct ftrace_ops *ops,
				  struct ftrace_regs *fregs)
{
	if (!within_module(parent_ip, THIS_MODULE))
		bsnap_ftrace_set_ip(fregs,
				    (unsigned long)hooked_submit_bio_noacct);
}

static struct ftrace_ops hook_ops = {
	.func = hook_callback,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY |
		 FTRACE_OPS_FL_RECURSION,
};

void bsnap_submit_own(struct bio *bio)
{
	submit_bio_noacct(bio);
}

static int hook_install(void)
{
	int ret;

	hook_target = bsnap_symbol("submit_bio_noacct");
	if (!hook_target) {
		pr_err("submit_bio_noacct not found\n");
		return -ENOENT;
	}
	ret = ftrace_set_filter_ip(&hook_ops, hook_target, 0, 0);
	if (ret) {
		pr_err("cannot filter submit_bio_noacct: %d\n", ret);
		return ret;
	}
	ret = register_ftrace_function(&hook_ops);
	if (ret) {
		/* -EBUSY: another IPMODIFY user (livepatch, dattobd) owns it. */
		pr_err("cannot hook submit_bio_noacct: %d\n", ret);
		ftrace_set_filter_ip(&hook_ops, hook_target, 1, 0);
	}
	return ret;
}

static void hook_remove(void)
{
	unregister_ftrace_function(&hook_ops);
	ftrace_set_filter_ip(&hook_ops, hook_target, 1, 0);
	/*
	 * Tasks redirected before the unregister may not have reached
	 * srcu_read_lock() yet: RCU-tasks waits for them; SRCU then waits for
	 * those inside; the second RCU-tasks wait covers the few instructions
	 * after srcu_read_unlock() that are still module text.
	 */
	synchronize_rcu_tasks();
	synchronize_srcu(&hook_srcu);
	synchronize_rcu_tasks();
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
