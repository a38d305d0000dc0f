/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel symbols found at run time. kallsyms_lookup_name() is not exported
 * since 5.7; its address is learnt from a kprobe placed on it, so no
 * System.map is needed at build time.
 */
#ifndef BSNAP_SYMBOLS_H
#define BSNAP_SYMBOLS_H

int bsnap_symbols_init(void);

/* Address of @name, or 0 if the kernel has no such symbol. */
unsigned long bsnap_symbol(const char *name);

#endif
