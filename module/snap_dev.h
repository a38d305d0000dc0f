/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The snapshot image /dev/bsnapN: a read-only block device the size of the
 * origin that shows the origin as it was when the snapshot was taken. Each
 * sector is read from the CoW file if its block was copied, from the origin
 * otherwise, and reads as zeros if it belongs to the CoW file itself.
 */
#ifndef BSNAP_SNAP_DEV_H
#define BSNAP_SNAP_DEV_H

struct snap_dev;
struct tracer;

int snap_dev_init(void);
void snap_dev_exit(void);

/* Create and add /dev/bsnap<t->minor>. ERR_PTR on failure. */
struct snap_dev *snap_dev_create(struct tracer *t);
/* Remove it; readers still holding it open get errors. Waits for reads. */
void snap_dev_destroy(struct snap_dev *sd);

#endif
