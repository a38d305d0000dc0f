/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The snapshot image /dev/bsnapN: a read-only block device the size of the
 * origin that shows the origin as it was when the snapshot was taken. Each
 * sector is read from the CoW file if its block was copied, from the origin
 * otherwise, and reads as zeros if it belongs to the CoW file itself.
 */
#ifndef BSNAP_SNAP_DEV_H
#define BSNAP_SNAP_DEV_H

#include <linux/types.h>

struct block_device;
struct cbt_map;
struct cow_pipeline;
struct cow_store;
struct snap_dev;

/* The snapshot an image shows, fixed for the image's lifetime. */
struct snap_dev_config {
	unsigned int minor;		/* /dev/bsnap<minor> */
	struct block_device *origin;
	sector_t nr_sectors;
	struct cbt_map *cbt;
	struct cow_store *store;
	struct cow_pipeline *pipe;
	/*
	 * The snapshot's stored error (read with READ_ONCE): once set, reads
	 * fail with EIO, unless @ignore_errors (they then serve the origin
	 * where no copy was made).
	 */
	const int *error;
	bool ignore_errors;
};

int snap_dev_init(void);
void snap_dev_exit(void);

/* Create and add /dev/bsnap<cfg->minor>. ERR_PTR on failure. */
struct snap_dev *snap_dev_create(const struct snap_dev_config *cfg);
/* Remove it; readers still holding it open get errors. Waits for reads. */
void snap_dev_destroy(struct snap_dev *sd);

#endif
