/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the CoW format codec (cow_codec.c) needs from its environment, for
 * the two places it is compiled into: bsnap.ko (__KERNEL__) and the
 * userspace library (lib/CMakeLists.txt). Nothing else in the codec may
 * depend on which one it is: it includes this header, <uapi/bsnap_cow.h>
 * and nothing else. The model is XFS's libxfs, shared with xfsprogs.
 *
 * Provides u8/u32/u64, U64_MAX, le32/le64 conversions, memcpy/memset,
 * snprintf, offsetof, static_assert, the errno values and bsnap_cow_crc32(): zlib's crc32() (start
 * with crc 0; a result continues the CRC over more bytes).
 */
#ifndef BSNAP_COW_PORT_H
#define BSNAP_COW_PORT_H

#ifdef __KERNEL__

#include <linux/build_bug.h>
#include <linux/crc32.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/byteorder.h>

/* crc32_le() without zlib's pre- and post-inversion. */
static inline u32 bsnap_cow_crc32(u32 crc, const void *buf, size_t len)
{
	return crc32_le(crc ^ ~0U, buf, len) ^ ~0U;
}

#else /* userspace */

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;

#ifndef U64_MAX
#define U64_MAX UINT64_MAX
#endif

#define le32_to_cpu(x) le32toh(x)
#define le64_to_cpu(x) le64toh(x)
#define cpu_to_le32(x) htole32(x)
#define cpu_to_le64(x) htole64(x)

/* zlib's crc32() takes at most 4 GiB a call: chunks of 1 GiB. */
static inline u32 bsnap_cow_crc32(u32 crc, const void *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	const size_t chunk = (size_t)1 << 30;
	uLong c = crc;

	while (len) {
		size_t n = len < chunk ? len : chunk;

		c = crc32(c, p, (uInt)n);
		p += n;
		len -= n;
	}
	return (u32)c;
}

#endif /* __KERNEL__ */

#endif /* BSNAP_COW_PORT_H */
