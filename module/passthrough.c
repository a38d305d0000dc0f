// SPDX-License-Identifier: GPL-2.0
/*
 * Which passthrough commands may change data (see passthrough.h).
 *
 * SCSI disks (sd, which SATA disks behind libata are too): the CDB's opcode
 * against a list of commands known to leave the medium alone (reads,
 * inquiries, sense and log pages, cache flushes, reservations); an ATA
 * command tunnelled in ATA PASS-THROUGH is looked at the same way (identify,
 * SMART, power management, reads). Anything else, WRITE, UNMAP, WRITE SAME,
 * FORMAT UNIT, SANITIZE, vendor commands, may write. Other drivers (NVMe,
 * virtio-blk's serial number query, ...): a command that sends data to the
 * device, or one that transfers nothing (NVMe Write Zeroes and Write
 * Uncorrectable move no data), may write; one that only reads data back
 * does not.
 */
#include "log.h"

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/major.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_proto.h>

#include "passthrough.h"

/* SAT's ATA PASS-THROUGH CDBs (not in every kernel's scsi_proto.h). */
#define SAT_ATA_16 0x85
#define SAT_ATA_12 0xa1

/* The majors of sd, the SCSI disk driver (scsi/sd.h is not exported). */
static bool is_scsi_disk(const struct gendisk *disk)
{
	unsigned int m = disk->major;

	return m == SCSI_DISK0_MAJOR ||
	       (m >= SCSI_DISK1_MAJOR && m <= SCSI_DISK7_MAJOR) ||
	       (m >= SCSI_DISK8_MAJOR && m <= SCSI_DISK15_MAJOR);
}

/* ATA commands (ACS) that read or only manage power, logs or SMART. */
static bool ata_cmd_reads(u8 cmd, u8 feature)
{
	switch (cmd) {
	case 0xec:	/* IDENTIFY DEVICE */
	case 0xa1:	/* IDENTIFY PACKET DEVICE */
	case 0xe5:	/* CHECK POWER MODE */
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: /* standby, idle */
	case 0xe6:	/* SLEEP */
	case 0xe7: case 0xea:	/* FLUSH CACHE (EXT) */
	case 0xef:	/* SET FEATURES */
	case 0x2f: case 0x47:	/* READ LOG (DMA) EXT */
	case 0x20: case 0x24: case 0x25: case 0xc8: case 0x60: /* reads */
	case 0x40: case 0x42:	/* READ VERIFY SECTOR(S) (EXT) */
	case 0x27: case 0xf8:	/* READ NATIVE MAX ADDRESS (EXT) */
		return true;
	case 0xb0:	/* SMART: every feature but WRITE LOG touches no data */
		return feature != 0xd6;
	default:
		return false;
	}
}

static bool scsi_cdb_reads(const u8 *cdb, unsigned int len)
{
	switch (cdb[0]) {
	case TEST_UNIT_READY:
	case REQUEST_SENSE:
	case INQUIRY:
	case MODE_SENSE:
	case MODE_SENSE_10:
	case MODE_SELECT:
	case MODE_SELECT_10:
	case START_STOP:
	case ALLOW_MEDIUM_REMOVAL:
	case READ_CAPACITY:
	case SERVICE_ACTION_IN_16:	/* READ CAPACITY (16), GET LBA STATUS */
	case MAINTENANCE_IN:		/* REPORT SUPPORTED OPCODES, ... */
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
	case VERIFY:
	case VERIFY_12:
	case VERIFY_16:
	case SYNCHRONIZE_CACHE:
	case SYNCHRONIZE_CACHE_16:
	case LOG_SENSE:
	case LOG_SELECT:
	case REPORT_LUNS:
	case RECEIVE_DIAGNOSTIC:
	case READ_DEFECT_DATA:
	case 0xb7:			/* READ DEFECT DATA (12) */
	case READ_BUFFER:
	case PERSISTENT_RESERVE_IN:
	case PERSISTENT_RESERVE_OUT:
	case SECURITY_PROTOCOL_IN:
		return true;
	case SAT_ATA_16:
		return len >= 16 && ata_cmd_reads(cdb[14], cdb[4]);
	case SAT_ATA_12:
		return len >= 12 && ata_cmd_reads(cdb[9], cdb[3]);
	default:
		return false;
	}
}

bool passthrough_may_write(struct request *rq, struct gendisk *disk,
			   char *desc, size_t len)
{
	if (!blk_rq_is_passthrough(rq))
		return false;
	if (is_scsi_disk(disk)) {
		struct scsi_cmnd *scmd = blk_mq_rq_to_pdu(rq);

		snprintf(desc, len, "SCSI command 0x%02x", scmd->cmnd[0]);
		return !scsi_cdb_reads(scmd->cmnd, scmd->cmd_len);
	}
	snprintf(desc, len, "%s passthrough command (%s, %u bytes)",
		 disk->disk_name, req_op(rq) == REQ_OP_DRV_OUT ? "out" : "in",
		 blk_rq_bytes(rq));
	return req_op(rq) == REQ_OP_DRV_OUT || !blk_rq_bytes(rq);
}
