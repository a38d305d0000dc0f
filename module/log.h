/* SPDX-License-Identifier: GPL-2.0 */
/* Every message the module prints starts with "bsnap: ". */
#ifndef BSNAP_LOG_H
#define BSNAP_LOG_H

#ifdef pr_fmt
#undef pr_fmt
#endif
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/printk.h>

#endif
