// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/bsnap-info: one JSON document describing the module and every traced
 * device. World-readable, like /proc/partitions; control stays root-only.
 */
#include "log.h"

#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <uapi/bsnap.h>

#include "json_out.h"
#include "proc_info.h"
#include "version.h"

static int proc_info_show(struct seq_file *m, void *v)
{
	seq_puts(m, "{\n\t\"version\": ");
	bsnap_json_string(m, BSNAP_VERSION);
	seq_printf(m, ",\n\t\"abi_version\": %u,\n", BSNAP_ABI_VERSION);
	seq_puts(m, "\t\"devices\": [\n\t]\n}\n");
	return 0;
}

int bsnap_proc_init(void)
{
	if (!proc_create_single(BSNAP_PROC_NAME, 0444, NULL, proc_info_show)) {
		pr_err("cannot create /proc/%s\n", BSNAP_PROC_NAME);
		return -ENOMEM;
	}
	return 0;
}

void bsnap_proc_exit(void)
{
	remove_proc_entry(BSNAP_PROC_NAME, NULL);
}
