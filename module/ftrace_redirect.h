/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Redirecting kernel functions to bsnap's wrappers with ftrace (IPMODIFY).
 *
 * A call to a redirected function from anywhere but bsnap's own text lands
 * in the wrapper instead; the wrapper calls the real function (which then
 * passes, since the caller is module text) and does its work around it.
 * Targets are found at run time through kallsyms (symbols.c), so no
 * System.map is needed at build time.
 */
#ifndef BSNAP_FTRACE_REDIRECT_H
#define BSNAP_FTRACE_REDIRECT_H

#include <linux/ftrace.h>

struct fn_redirect {
	const char *symbol;
	void *wrapper;
	unsigned long target;	/* filled in by fn_redirect_install() */
};

struct fn_redirect_set {
	struct ftrace_ops ops;
	struct fn_redirect *fns;
	unsigned int nr;
};

#define FN_REDIRECT_SET(name, table)                                           \
	struct fn_redirect_set name = {                                        \
		.fns = table,                                                  \
		.nr = ARRAY_SIZE(table),                                       \
	}

/*
 * Look every target up and redirect it. -ENOENT if a symbol is missing,
 * -EBUSY if another IPMODIFY user (livepatch, dattobd) owns a target.
 */
int fn_redirect_install(struct fn_redirect_set *set);

/*
 * Stop redirecting, then wait until no task can still be on its way into a
 * wrapper. The caller then waits for tasks inside its wrappers (their SRCU)
 * and calls fn_redirect_settle() for the last instructions of module text.
 */
void fn_redirect_remove(struct fn_redirect_set *set);
void fn_redirect_settle(void);

#endif
