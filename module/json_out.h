/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers to print JSON into a seq_file. */
#ifndef BSNAP_JSON_OUT_H
#define BSNAP_JSON_OUT_H

#include <linux/seq_file.h>

/* Print @s as a quoted JSON string; invalid UTF-8 bytes become \u00XX. */
void bsnap_json_string(struct seq_file *m, const char *s);

#endif
