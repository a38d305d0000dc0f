/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CoW file's extent map (cow_file->extents and ->by_sector): taken once
 * from the filesystem's ->fiemap after the file is pinned, read lock-free
 * afterwards. Only cow_file.c uses it.
 */
#ifndef BSNAP_COW_EXTENT_MAP_H
#define BSNAP_COW_EXTENT_MAP_H

#include <linux/types.h>

struct cow_extent;
struct cow_file;
struct inode;

/*
 * Map [0, cf->size) of @inode to sectors of cf->bdev. The file must be
 * pinned (or its filesystem unwritable), and the caller must have a user mm
 * (ioctl or mount context).
 */
int cow_extent_map_build(struct cow_file *cf, struct inode *inode);

/* True if both maps hold the same extents. */
bool cow_extent_map_equal(const struct cow_file *a, const struct cow_file *b);
void cow_extent_map_free(struct cow_file *cf);

/* The extent holding file offset @off (< cf->size). */
const struct cow_extent *cow_extent_by_off(const struct cow_file *cf, u64 off);

/* The extent holding device sector @sector, or NULL. Lock-free. */
const struct cow_extent *cow_extent_by_sector(const struct cow_file *cf,
					      sector_t sector);

#endif
