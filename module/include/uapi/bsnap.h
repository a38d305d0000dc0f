/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bsnap ioctl ABI: the only definition, shared by the kernel module and the
 * userspace library.
 *
 * Every ioctl argument is a struct that starts with a __u32 'size' holding
 * sizeof() of the struct as the caller knows it. The kernel accepts smaller
 * (older) structs, zero-extending them, and larger (newer) ones whose unknown
 * tail is all zeros, so the ABI can grow by appending fields. Dispatch uses
 * the ioctl type and number only, never the size encoded in the command.
 */
#ifndef _UAPI_BSNAP_H
#define _UAPI_BSNAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BSNAP_CTL_NAME "bsnap-ctl"
#define BSNAP_DEV_PREFIX "bsnap"
#define BSNAP_PROC_NAME "bsnap-info"

/* Bumped on any incompatible change; appended fields do not bump it. */
#define BSNAP_ABI_VERSION 1

/* Minors are chosen by the caller in [0, BSNAP_MAX_MINORS). */
#define BSNAP_MAX_MINORS 256
/* Longest path accepted for a block device or CoW file, with its NUL. */
#define BSNAP_PATH_MAX 4096

/* Device state bits (elastio-compatible values, see docs/states.md). */
#define BSNAP_STATE_SNAPSHOT 0x1u   /* snapshot mode; clear: incremental */
#define BSNAP_STATE_ACTIVE 0x2u     /* filesystem mounted read-write */
#define BSNAP_STATE_UNVERIFIED 0x4u /* reloaded, CoW header not checked */
#define BSNAP_STATE_FAILED 0x8u     /* an error is stored in 'error' */

/* Flags for setup and reload. */
#define BSNAP_FLAG_IGNORE_ERRORS 0x1u /* failed snapshot reads stay readable */

#define BSNAP_UUID_SIZE 16

struct bsnap_version {
	__u32 size;
	__u32 abi_version; /* out: BSNAP_ABI_VERSION */
	char version[32];  /* out: module version string, NUL terminated */
};

/* setup-snapshot, reload-snapshot, reload-incremental. */
struct bsnap_setup {
	__u32 size;
	__u32 minor;
	__u32 flags;	      /* BSNAP_FLAG_* */
	__u32 reserved;	      /* must be zero */
	__u64 cache_size;     /* bytes of memory for CoW metadata; 0 = default */
	__u64 fallocate_size; /* bytes of the CoW file; 0 = default (10 %) */
	__u64 bdev_path;      /* user pointer to a NUL-terminated path */
	__u64 cow_path;	      /* user pointer; absolute for setup,
			       * relative to the mount point for reload
			       */
};

struct bsnap_minor_arg {
	__u32 size;
	__u32 minor; /* in (destroy, transition...) or out (get-free-minor) */
};

struct bsnap_transition_snapshot {
	__u32 size;
	__u32 minor;
	__u64 fallocate_size; /* bytes; 0 = default */
	__u64 cow_path;	      /* user pointer, absolute path */
};

struct bsnap_reconfigure {
	__u32 size;
	__u32 minor;
	__u64 cache_size;
};

struct bsnap_info {
	__u32 size;
	__u32 minor;		/* in */
	__u32 state;		/* BSNAP_STATE_* */
	__s32 error;		/* negative errno of the first failure, or 0 */
	__u64 cache_size;
	__u64 falloc_size;	/* bytes allocated to the CoW file */
	__u64 seqid;		/* starts at 1, +1 per transition to snapshot */
	__u8 uuid[BSNAP_UUID_SIZE]; /* chain UUID, fixed for a chain */
	__u64 device_sectors;	/* size of the traced device */
	__u64 changed_blocks;	/* blocks marked in the change map */
	__u64 cow_used_bytes;	/* bytes of the CoW file in use */
	__u32 block_size;	/* tracking granularity in bytes */
	__u32 flags;		/* BSNAP_FLAG_*; 0 from older modules */
	char bdev_path[BSNAP_PATH_MAX];
	char cow_path[BSNAP_PATH_MAX];
	__u64 cow_free_bytes;	/* CoW data the file can still take; 0 from
				 * older modules and in incremental mode
				 */
	__u64 cow_data_bytes;	/* CoW data the file holds (snapshot mode);
				 * low when cow_data_bytes * 100 >=
				 * (cow_data_bytes + cow_free_bytes) *
				 * BSNAP_COW_LOW_PERCENT
				 */
};

/*
 * The module-daemon contract. The module sends a uevent (action "change")
 * on the control device for every state change of a traced device, with
 * the keys below. Events are hints: one that cannot be allocated is dropped
 * (counted as "events_dropped" in /proc/bsnap-info), so a daemon also reads
 * the devices' state periodically (bsnapd: every --interval).
 */
#define BSNAP_UEVENT_EVENT "BSNAP_EVENT" /* one of BSNAP_EVENT_* */
#define BSNAP_UEVENT_MINOR "BSNAP_MINOR" /* the device's minor */
#define BSNAP_UEVENT_STATE "BSNAP_STATE" /* BSNAP_STATE_* bits */
#define BSNAP_UEVENT_ERROR "BSNAP_ERROR" /* positive errno, or 0 */

#define BSNAP_EVENT_SETUP "setup"	    /* setup-snapshot */
#define BSNAP_EVENT_TRANSITION "transition" /* either transition */
#define BSNAP_EVENT_ACTIVE "active"	    /* mounted read-write */
#define BSNAP_EVENT_DORMANT "dormant"	    /* unmounted or read-only */
#define BSNAP_EVENT_UNVERIFIED "unverified" /* reloaded */
#define BSNAP_EVENT_FAILED "failed"	    /* an error is stored */
#define BSNAP_EVENT_DESTROYED "destroyed"
#define BSNAP_EVENT_COW_LOW "cow-low"	    /* see BSNAP_COW_LOW_PERCENT */
#define BSNAP_EVENT_EXPANDED "expanded"	    /* the CoW file grew */

/*
 * "cow-low" is sent once this much of a snapshot's usable CoW data space is
 * in use, and again after each growth once the grown file is this full.
 */
#define BSNAP_COW_LOW_PERCENT 75

/*
 * Growing the CoW file of a running snapshot takes two steps, because blocks
 * handed to the file after the snapshot instant may still hold data the
 * snapshot needs (a file deleted after the snapshot frees its blocks):
 *
 * 1. BSNAP_IOC_EXPAND_COW allocates @grow_bytes more of the file. The module
 *    never writes CoW data to this new space on its own, and the image reads
 *    it from the device like any other block.
 * 2. BSNAP_IOC_COW_USABLE names ranges of the new space that the snapshot's
 *    filesystem had free at the snapshot instant (userspace finds them with
 *    FS_IOC_GETFSMAP on the image, see bsnapctl expand-cow-file). Only these,
 *    and blocks whose old contents the snapshot has copied already, take CoW
 *    data. Naming a block that was in use corrupts the snapshot: the caller
 *    vouches for what it names.
 *
 * The module saves the usable ranges in the CoW file (a reload knows them
 * again) and reads them as zeros in the image from the moment they are
 * named. With @grow_bytes 0, EXPAND_COW only reports @grown_off and
 * @file_size (to name space that a failed or interrupted growth left).
 * The caller opens the CoW file (read-only: it is immutable while in use) and
 * passes the fd; the filesystem must be mounted read-write.
 */
struct bsnap_expand_cow {
	__u32 size;
	__u32 minor;
	__s32 fd;	   /* the CoW file */
	__u32 reserved;	   /* must be zero */
	__u64 grow_bytes;  /* in: added to the file, rounded up to 4 KiB */
	__u64 grown_off;   /* out: file bytes from here on were added after
			    * the snapshot instant (= file_size if none)
			    */
	__u64 file_size;   /* out: the file's size now */
};

/* A byte range of the CoW file: multiples of 512, usually of 4 KiB. */
struct bsnap_cow_range {
	__u64 off;
	__u64 len;
};

#define BSNAP_MAX_COW_RANGES 65536

struct bsnap_cow_usable {
	__u32 size;
	__u32 minor;
	__u32 nr_ranges;   /* at most BSNAP_MAX_COW_RANGES */
	__u32 reserved;    /* must be zero */
	__u64 ranges;      /* user pointer to nr_ranges struct bsnap_cow_range:
			    * space the snapshot's filesystem had free; parts
			    * outside [grown_off, file_size) are ignored
			    */
	__u64 added_bytes; /* out: space that became usable now */
	__u64 free_bytes;  /* out: CoW data the file can still take */
};

/*
 * Several devices at one instant (BSNAP_IOC_SNAPSHOT_GROUP): each member is
 * a setup-snapshot or a transition-to-snapshot. Every member is prepared
 * first (CoW files created, arguments checked: any failure and nothing
 * changes); then all their filesystems are frozen, in the order given,
 * every snapshot starts, and they are thawed in reverse order. The images
 * of all members show one moment: no write to any of them lies between
 * two of the snapshots. Freeze order matters when one filesystem lives on
 * another (a loop device over a file): give the upper one first.
 */
#define BSNAP_GROUP_SETUP 1	 /* a new snapshot: bdev_path, cow_path, minor */
#define BSNAP_GROUP_TRANSITION 2 /* incremental -> snapshot: cow_path, minor */
#define BSNAP_MAX_GROUP 32

struct bsnap_group_member {
	__u32 op;	      /* BSNAP_GROUP_* */
	__u32 minor;
	__u32 flags;	      /* setup: BSNAP_FLAG_* */
	__s32 error;	      /* out: negative errno of this member's failure */
	__u64 cache_size;     /* setup: as in struct bsnap_setup */
	__u64 fallocate_size; /* bytes of the CoW file; 0 = default */
	__u64 bdev_path;      /* setup: user pointer to a path */
	__u64 cow_path;	      /* user pointer to an absolute path */
};

struct bsnap_group_snapshot {
	__u32 size;
	__u32 nr_members;     /* 1 .. BSNAP_MAX_GROUP */
	__u32 member_size;    /* sizeof(struct bsnap_group_member) */
	__u32 failed;	      /* out: index of the member that failed the
			       * group, or nr_members if none did
			       */
	__u64 members;	      /* user pointer to the array */
};

#define BSNAP_IOCTL_MAGIC 0xB5

#define BSNAP_IOC_VERSION _IOWR(BSNAP_IOCTL_MAGIC, 0, struct bsnap_version)
#define BSNAP_IOC_SETUP_SNAPSHOT _IOW(BSNAP_IOCTL_MAGIC, 1, struct bsnap_setup)
#define BSNAP_IOC_RELOAD_SNAPSHOT _IOW(BSNAP_IOCTL_MAGIC, 2, struct bsnap_setup)
#define BSNAP_IOC_RELOAD_INCREMENTAL                                           \
	_IOW(BSNAP_IOCTL_MAGIC, 3, struct bsnap_setup)
#define BSNAP_IOC_DESTROY _IOW(BSNAP_IOCTL_MAGIC, 4, struct bsnap_minor_arg)
#define BSNAP_IOC_TRANSITION_INCREMENTAL                                       \
	_IOW(BSNAP_IOCTL_MAGIC, 5, struct bsnap_minor_arg)
#define BSNAP_IOC_TRANSITION_SNAPSHOT                                          \
	_IOW(BSNAP_IOCTL_MAGIC, 6, struct bsnap_transition_snapshot)
#define BSNAP_IOC_RECONFIGURE                                                  \
	_IOW(BSNAP_IOCTL_MAGIC, 7, struct bsnap_reconfigure)
#define BSNAP_IOC_INFO _IOWR(BSNAP_IOCTL_MAGIC, 8, struct bsnap_info)
#define BSNAP_IOC_GET_FREE_MINOR                                               \
	_IOR(BSNAP_IOCTL_MAGIC, 9, struct bsnap_minor_arg)
#define BSNAP_IOC_EXPAND_COW                                                   \
	_IOWR(BSNAP_IOCTL_MAGIC, 10, struct bsnap_expand_cow)
#define BSNAP_IOC_COW_USABLE                                                   \
	_IOWR(BSNAP_IOCTL_MAGIC, 11, struct bsnap_cow_usable)
#define BSNAP_IOC_SNAPSHOT_GROUP                                               \
	_IOWR(BSNAP_IOCTL_MAGIC, 12, struct bsnap_group_snapshot)

#endif /* _UAPI_BSNAP_H */
