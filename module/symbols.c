// SPDX-License-Identifier: GPL-2.0
#include "log.h"

#include <linux/kprobes.h>

#include "symbols.h"

typedef unsigned long (*kallsyms_lookup_name_fn)(const char *name);

static kallsyms_lookup_name_fn lookup_name;

int bsnap_symbols_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret;

	ret = register_kprobe(&kp);
	if (ret < 0) {
		pr_err("cannot find kallsyms_lookup_name (kprobe: %d)\n", ret);
		return ret;
	}
	lookup_name = (kallsyms_lookup_name_fn)kp.addr;
	unregister_kprobe(&kp);
	return 0;
}

unsigned long bsnap_symbol(const char *name)
{
	return lookup_name ? lookup_name(name) : 0;
}
