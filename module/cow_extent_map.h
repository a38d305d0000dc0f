/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CoW file's extent map: taken from the filesystem's ->fiemap after the
 * file is pinned, then only read. A map never changes once built; growing
 * the file (cow_file_grow()) builds a new one and swaps it in under RCU.
 * Only cow_file.c uses it.
 */
#ifndef BSNAP_COW_EXTENT_MAP_H
#define BSNAP_COW_EXTENT_MAP_H

#include <linux/rcupdate.h>
#include <linux/types.h>

struct block_device;

/* A run of the file mapped to contiguous device sectors. */
struct cow_extent {
	u64 file_off;	/* bytes, multiple of the fs block size */
	sector_t sector; /* on the traced device (partition-relative) */
	u64 len;	/* bytes */
};
struct inode;

struct cow_map {
	u64 size;			/* bytes of the file mapped */
	unsigned int nr;
	struct cow_extent *by_off;	/* sorted by file_off, merged */
	struct cow_extent *by_sector;	/* the same, sorted by sector */
	struct rcu_head rcu;
};

/*
 * Map [0, @size) of @inode to sectors of @bdev. The file must be pinned (or
 * its filesystem unwritable), and the caller must have a user mm (ioctl or
 * mount context). ERR_PTR on error.
 */
struct cow_map *cow_map_build(struct inode *inode, struct block_device *bdev,
			      u64 size);

/* True if both maps hold the same extents. */
bool cow_map_equal(const struct cow_map *a, const struct cow_map *b);

/* True if @grown maps every byte @old maps to the same sector. */
bool cow_map_extends(const struct cow_map *grown, const struct cow_map *old);

void cow_map_free(struct cow_map *map);

/* The extent holding file offset @off (< map->size), or NULL. */
const struct cow_extent *cow_map_by_off(const struct cow_map *map, u64 off);

/*
 * The extent holding device sector @sector, or NULL; then *@gap is the
 * number of sectors from @sector up to the next extent (U64_MAX if none).
 */
const struct cow_extent *cow_map_by_sector(const struct cow_map *map,
					   sector_t sector, u64 *gap);

#endif
