// SPDX-License-Identifier: GPL-2.0
/*
 * bsnap: block-level snapshots and changed-block tracking.
 *
 * Module entry points only: bring up the subsystems in order and tear them
 * down in reverse. Each subsystem lives in its own file; tracer.h maps them.
 * The module cannot be unloaded while a traced filesystem is mounted (each
 * such tracer holds a module reference). Dormant and unverified devices do
 * not hold it: unloading seals their CoW files, so that the next reload
 * continues the chain. At shutdown every CoW file that can be is sealed.
 */
#include "log.h"

#include <linux/module.h>
#include <linux/reboot.h>

#include "bio_hook.h"
#include "ctl_dev.h"
#include "direct_io.h"
#include "events.h"
#include "mount_hook.h"
#include "proc_info.h"
#include "snap_dev.h"
#include "symbols.h"
#include "tracer.h"
#include "write_intent.h"
#include "version.h"

static int bsnap_reboot(struct notifier_block *nb, unsigned long action,
			void *data)
{
	tracer_seal_all();
	return NOTIFY_DONE;
}

static struct notifier_block reboot_nb = {
	.notifier_call = bsnap_reboot,
};

static const struct bsnap_hook_ops hook_ops = {
	.bio = tracer_handle_bio,
	.passthrough = tracer_handle_passthrough,
};

static int __init bsnap_init(void)
{
	int ret;

	bsnap_hook_init(&hook_ops);
	ret = bsnap_symbols_init();
	if (ret)
		return ret;
	ret = bsnap_direct_io_init();
	if (ret)
		return ret;
	ret = bsnap_tracer_init();
	if (ret)
		goto err_io;
	ret = bsnap_seal_init();
	if (ret)
		goto err_tracer;
	ret = bsnap_write_intent_init();
	if (ret)
		goto err_seal;
	ret = snap_dev_init();
	if (ret)
		goto err_intent;
	ret = bsnap_proc_init();
	if (ret)
		goto err_snap;
	ret = bsnap_mount_hook_init();
	if (ret)
		goto err_proc;
	ret = register_reboot_notifier(&reboot_nb);
	if (ret)
		goto err_mount;
	ret = bsnap_ctl_init();
	if (ret)
		goto err_reboot;
	ret = bsnap_events_init(&bsnap_ctl_device()->kobj);
	if (ret)
		goto err_ctl;

	pr_info("version %s loaded\n", BSNAP_VERSION);
	return 0;

err_ctl:
	bsnap_ctl_exit();
err_reboot:
	unregister_reboot_notifier(&reboot_nb);
err_mount:
	bsnap_mount_hook_exit();
err_proc:
	bsnap_proc_exit();
err_snap:
	snap_dev_exit();
err_intent:
	bsnap_write_intent_exit();
err_seal:
	bsnap_seal_exit();
err_tracer:
	bsnap_tracer_exit();
err_io:
	bsnap_direct_io_exit();
	return ret;
}

static void __exit bsnap_exit(void)
{
	/* No open control device (it holds the module): no ioctl runs. */
	unregister_reboot_notifier(&reboot_nb);
	/* No more mount events: what is dormant now stays so until sealed. */
	bsnap_mount_hook_exit();
	tracer_unload_all();
	bsnap_hook_exit();
	bsnap_events_exit();
	bsnap_ctl_exit();
	bsnap_proc_exit();
	snap_dev_exit();
	bsnap_write_intent_exit();
	bsnap_seal_exit();
	bsnap_tracer_exit();
	bsnap_direct_io_exit();
	pr_info("unloaded\n");
}

module_init(bsnap_init);
module_exit(bsnap_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("bsnap developers");
MODULE_DESCRIPTION("Block-level snapshots and changed-block tracking");
MODULE_VERSION(BSNAP_VERSION);
