/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Passthrough commands: the writes the bio hook cannot see.
 *
 * SG_IO on a SCSI disk or its /dev/sg node, bsg, NVMe passthrough ioctls
 * and io_uring commands build requests that go straight to the driver
 * (blk_execute_rq*), never through submit_bio_noacct, so no write of theirs
 * can be mapped onto blocks. Each such command sent to a disk that holds a
 * traced device is classified here; one that may change data breaks the
 * tracer's chain (tracer_handle_passthrough).
 */
#ifndef BSNAP_PASSTHROUGH_H
#define BSNAP_PASSTHROUGH_H

#include <linux/types.h>

struct gendisk;
struct request;

/*
 * May @rq, a passthrough request to @disk, change the data on it? A
 * description of the command ("SCSI opcode 0x2a") goes to @desc.
 */
bool passthrough_may_write(struct request *rq, struct gendisk *disk,
			   char *desc, size_t len);

#endif
