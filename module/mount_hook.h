/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mount hooks: ftrace redirections of the three places every mount,
 * remount and unmount goes through, whatever the API (mount(2), the new
 * mount API, mount namespaces, lazy umount):
 *   vfs_get_tree()            a superblock is mounted (new or shared),
 *   reconfigure_super()       remount, read-only <-> read-write,
 *   generic_shutdown_super()  the last reference to a superblock is gone.
 * They report to tracer_mount.c. Installed for the module's lifetime.
 */
#ifndef BSNAP_MOUNT_HOOK_H
#define BSNAP_MOUNT_HOOK_H

int bsnap_mount_hook_init(void);
void bsnap_mount_hook_exit(void);

#endif
