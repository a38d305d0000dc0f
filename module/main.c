// SPDX-License-Identifier: GPL-2.0
/*
 * bsnap: block-level snapshots and changed-block tracking.
 *
 * Module entry points only: bring up the subsystems in order and tear them
 * down in reverse. Each subsystem lives in its own file; tracer.h maps them.
 * The module cannot be unloaded while a device is traced (each tracer holds
 * a module reference), so exit has no tracer to stop.
 */
#include "log.h"

#include <linux/module.h>

#include "ctl_dev.h"
#include "direct_io.h"
#include "proc_info.h"
#include "snap_dev.h"
#include "symbols.h"
#include "version.h"

static int __init bsnap_init(void)
{
	int ret;

	ret = bsnap_symbols_init();
	if (ret)
		return ret;
	ret = bsnap_direct_io_init();
	if (ret)
		return ret;
	ret = snap_dev_init();
	if (ret)
		goto err_io;
	ret = bsnap_proc_init();
	if (ret)
		goto err_snap;
	ret = bsnap_ctl_init();
	if (ret)
		goto err_proc;

	pr_info("version %s loaded\n", BSNAP_VERSION);
	return 0;

err_proc:
	bsnap_proc_exit();
err_snap:
	snap_dev_exit();
err_io:
	bsnap_direct_io_exit();
	return ret;
}

static void __exit bsnap_exit(void)
{
	bsnap_ctl_exit();
	bsnap_proc_exit();
	snap_dev_exit();
	bsnap_direct_io_exit();
	pr_info("unloaded\n");
}

module_init(bsnap_init);
module_exit(bsnap_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("bsnap developers");
MODULE_DESCRIPTION("Block-level snapshots and changed-block tracking");
MODULE_VERSION(BSNAP_VERSION);
