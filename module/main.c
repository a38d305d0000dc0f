// SPDX-License-Identifier: GPL-2.0
/*
 * bsnap: block-level snapshots and changed-block tracking.
 *
 * Module entry points only: bring up the subsystems in order and tear them
 * down in reverse. Each subsystem lives in its own file.
 */
#include <linux/module.h>

#include "ctl_dev.h"
#include "log.h"
#include "proc_info.h"
#include "version.h"

static int __init bsnap_init(void)
{
	int ret;

	ret = bsnap_proc_init();
	if (ret)
		return ret;

	ret = bsnap_ctl_init();
	if (ret) {
		bsnap_proc_exit();
		return ret;
	}

	pr_info("version %s loaded\n", BSNAP_VERSION);
	return 0;
}

static void __exit bsnap_exit(void)
{
	bsnap_ctl_exit();
	bsnap_proc_exit();
	pr_info("unloaded\n");
}

module_init(bsnap_init);
module_exit(bsnap_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("bsnap developers");
MODULE_DESCRIPTION("Block-level snapshots and changed-block tracking");
MODULE_VERSION(BSNAP_VERSION);
