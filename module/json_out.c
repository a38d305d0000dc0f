// SPDX-License-Identifier: GPL-2.0
/*
 * JSON string output. Paths are arbitrary bytes, and a strict JSON parser
 * rejects invalid UTF-8, so well-formed UTF-8 sequences pass through and any
 * other byte is escaped as the code point of the same value.
 */
#include <linux/kernel.h>

#include "json_out.h"

/* Length of the valid UTF-8 sequence starting at @s, or 0. */
static int utf8_seq_len(const unsigned char *s)
{
	int len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates and code points above U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

void bsnap_json_string(struct seq_file *m, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int len;

	seq_putc(m, '"');
	while (*s) {
		if (*s == '"' || *s == '\\') {
			seq_putc(m, '\\');
			seq_putc(m, *s++);
			continue;
		}
		len = utf8_seq_len(s);
		if (len == 0 || *s < 0x20) {
			seq_printf(m, "\\u%04x", *s++);
			continue;
		}
		seq_write(m, s, len);
		s += len;
	}
	seq_putc(m, '"');
}
