/* SPDX-License-Identifier: GPL-2.0 */
/* /dev/bsnap-ctl: the control device and its ioctl surface. */
#ifndef BSNAP_CTL_DEV_H
#define BSNAP_CTL_DEV_H

int bsnap_ctl_init(void);
void bsnap_ctl_exit(void);
/* The control device's struct device (for uevents). */
struct device *bsnap_ctl_device(void);

#endif
