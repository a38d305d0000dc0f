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
 * Passthrough requests (SG_IO, NVMe passthrough) bypass submit_bio_noacct;
 * kprobes on blk_execute_rq{,_nowait} see them before they run and let the
 * tracer break the chain of a disk they may write (passthrough.c).
 *
 * Lifetime: the redirected function runs inside an SRCU read section, so a
 * tracer unpublished from the table can be freed after bsnap_hook_sync(),
 * and removing the hook waits for tasks still inside module text.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/srcu.h>

#include "bio_hook.h"
#include "ftrace_redirect.h"

DEFINE_STATIC_SRCU(hook_srcu);

static unsigned int hook_users;
static bool hook_installed;
static const struct bsnap_hook_ops *hook_ops;

void bsnap_hook_init(const struct bsnap_hook_ops *ops)
{
	hook_ops = ops;
}

static void hooked_submit_bio_noacct(struct bio *bio)
{
	int idx = srcu_read_lock(&hook_srcu);

	if (!hook_ops->bio(bio))
		submit_bio_noacct(bio);
	srcu_read_unlock(&hook_srcu, idx);
}

static struct fn_redirect bio_fns[] = {
	{ "submit_bio_noacct", hooked_submit_bio_noacct },
};
static FN_REDIRECT_SET(bio_redirect, bio_fns);

/*
 * Passthrough requests never reach submit_bio_noacct: watch where they are
 * handed to the driver. Only looked at, never redirected: a command may run
 * for minutes, and nothing of bsnap's may be on the stack while it does.
 */
static int passthrough_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct request *rq = (struct request *)regs_get_kernel_argument(regs, 0);
	int idx = srcu_read_lock(&hook_srcu);

	hook_ops->passthrough(rq);
	srcu_read_unlock(&hook_srcu, idx);
	return 0;
}

static const char *const passthrough_fns[] = {
	"blk_execute_rq", "blk_execute_rq_nowait",
};
static struct kprobe passthrough_kps[ARRAY_SIZE(passthrough_fns)];
static struct kprobe *passthrough_kp_list[ARRAY_SIZE(passthrough_fns)];

/*
 * A kprobe keeps the address it resolved (and its flags) after being
 * unregistered, and register_kprobe() refuses one that has both an address
 * and a symbol: set them up afresh for every install.
 */
static int passthrough_watch(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(passthrough_fns); i++) {
		passthrough_kps[i] = (struct kprobe) {
			.symbol_name = passthrough_fns[i],
			.pre_handler = passthrough_pre,
		};
		passthrough_kp_list[i] = &passthrough_kps[i];
	}
	return register_kprobes(passthrough_kp_list,
				ARRAY_SIZE(passthrough_kp_list));
}

static int hook_install(void)
{
	int ret;

	ret = passthrough_watch();
	if (ret) {
		pr_err("cannot watch passthrough commands: %d\n", ret);
		return ret;
	}
	ret = fn_redirect_install(&bio_redirect);
	if (ret)
		unregister_kprobes(passthrough_kp_list,
				   ARRAY_SIZE(passthrough_kp_list));
	return ret;
}

static void hook_remove(void)
{
	fn_redirect_remove(&bio_redirect);
	unregister_kprobes(passthrough_kp_list, ARRAY_SIZE(passthrough_kp_list));
	synchronize_srcu(&hook_srcu);
	fn_redirect_settle();
}

int bsnap_hook_get(void)
{
	int ret;

	if (!hook_installed) {
		ret = hook_install();
		if (ret)
			return ret;
		hook_installed = true;
	}
	hook_users++;
	return 0;
}

void bsnap_hook_put(void)
{
	WARN_ON_ONCE(hook_users == 0);
	if (hook_users)
		hook_users--;
}

void bsnap_hook_exit(void)
{
	if (WARN_ON_ONCE(hook_users))
		return;
	if (hook_installed)
		hook_remove();
	hook_installed = false;
}

void bsnap_hook_sync(void)
{
	synchronize_srcu(&hook_srcu);
}
