// SPDX-License-Identifier: GPL-2.0
/*
 * Function redirection with ftrace (see ftrace_redirect.h).
 */
#include "log.h"

#include <linux/ftrace.h>
#include <linux/module.h>

#include "compat.h"
#include "ftrace_redirect.h"
#include "symbols.h"

/* Largest distance from a function's symbol to its ftrace call site. */
#define REDIRECT_SITE_MAX 16

static void notrace redirect_callback(unsigned long ip,
				      unsigned long parent_ip,
				      struct ftrace_ops *ops,
				      struct ftrace_regs *fregs)
{
	struct fn_redirect_set *set = container_of(ops, struct fn_redirect_set,
						   ops);
	unsigned int i;

	if (within_module(parent_ip, THIS_MODULE))
		return;
	for (i = 0; i < set->nr; i++) {
		/*
		 * @ip is the patched call site, which follows an ENDBR64
		 * on kernels built with IBT: a few bytes past the symbol.
		 */
		if (ip - set->fns[i].target <= REDIRECT_SITE_MAX) {
			bsnap_ftrace_set_ip(fregs,
					    (unsigned long)set->fns[i].wrapper);
			return;
		}
	}
}

static void redirect_unfilter(struct fn_redirect_set *set, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		ftrace_set_filter_ip(&set->ops, set->fns[i].target, 1, 0);
}

int fn_redirect_install(struct fn_redirect_set *set)
{
	unsigned int i;
	int ret;

	set->ops.func = redirect_callback;
	set->ops.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY |
			 FTRACE_OPS_FL_RECURSION;
	for (i = 0; i < set->nr; i++) {
		struct fn_redirect *fn = &set->fns[i];

		fn->target = bsnap_symbol(fn->symbol);
		if (!fn->target) {
			pr_err("%s not found\n", fn->symbol);
			ret = -ENOENT;
			goto err;
		}
		ret = ftrace_set_filter_ip(&set->ops, fn->target, 0, 0);
		if (ret) {
			pr_err("cannot filter %s: %d\n", fn->symbol, ret);
			goto err;
		}
	}
	ret = register_ftrace_function(&set->ops);
	if (ret) {
		pr_err("cannot hook %s: %d\n", set->fns[0].symbol, ret);
		goto err;
	}
	return 0;
err:
	redirect_unfilter(set, i);
	return ret;
}

void fn_redirect_remove(struct fn_redirect_set *set)
{
	unregister_ftrace_function(&set->ops);
	redirect_unfilter(set, set->nr);
	/*
	 * Tasks redirected before the unregister may not have entered the
	 * wrapper's SRCU section yet; RCU-tasks waits for them.
	 */
	synchronize_rcu_tasks();
}

void fn_redirect_settle(void)
{
	/* The few instructions after srcu_read_unlock() are module text too. */
	synchronize_rcu_tasks();
}
