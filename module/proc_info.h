/* SPDX-License-Identifier: GPL-2.0 */
/* /proc/bsnap-info: the module's state as one JSON document. */
#ifndef BSNAP_PROC_INFO_H
#define BSNAP_PROC_INFO_H

int bsnap_proc_init(void);
void bsnap_proc_exit(void);

#endif
