// SPDX-License-Identifier: GPL-2.0
/*
 * The mount hooks (see mount_hook.h). Each wrapper calls the real function
 * and reports around it, inside an SRCU section so that unloading waits for
 * a mount in progress.
 */
#include "log.h"

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/srcu.h>

#include "ftrace_redirect.h"
#include "mount_hook.h"
#include "tracer.h"

DEFINE_STATIC_SRCU(mount_srcu);

enum { GET_TREE, RECONFIGURE, SHUTDOWN };
static struct fn_redirect mount_fns[];

/* The real function: its target, looked up before the hook goes live. */
#define REAL(fn, type) ((type)mount_fns[fn].target)

static int hooked_vfs_get_tree(struct fs_context *fc)
{
	int idx = srcu_read_lock(&mount_srcu);
	int ret = REAL(GET_TREE, int (*)(struct fs_context *))(fc);

	if (!ret)
		tracer_sb_changed(fc->root->d_sb);
	srcu_read_unlock(&mount_srcu, idx);
	return ret;
}

static int hooked_reconfigure_super(struct fs_context *fc)
{
	int idx = srcu_read_lock(&mount_srcu);
	int ret = REAL(RECONFIGURE, int (*)(struct fs_context *))(fc);

	if (!ret)
		tracer_sb_changed(fc->root->d_sb);
	srcu_read_unlock(&mount_srcu, idx);
	return ret;
}

static void hooked_generic_shutdown_super(struct super_block *sb)
{
	int idx = srcu_read_lock(&mount_srcu);
	dev_t dev = sb->s_bdev ? sb->s_bdev->bd_dev : 0;

	tracer_sb_shutdown_begin(sb);
	REAL(SHUTDOWN, void (*)(struct super_block *))(sb);
	if (dev)
		tracer_sb_shutdown_end(dev);
	srcu_read_unlock(&mount_srcu, idx);
}

static struct fn_redirect mount_fns[] = {
	[GET_TREE] = { "vfs_get_tree", hooked_vfs_get_tree },
	[RECONFIGURE] = { "reconfigure_super", hooked_reconfigure_super },
	[SHUTDOWN] = { "generic_shutdown_super",
		       hooked_generic_shutdown_super },
};
static FN_REDIRECT_SET(mount_redirect, mount_fns);

int bsnap_mount_hook_init(void)
{
	return fn_redirect_install(&mount_redirect);
}

void bsnap_mount_hook_exit(void)
{
	fn_redirect_remove(&mount_redirect);
	synchronize_srcu(&mount_srcu);
	fn_redirect_settle();
}
