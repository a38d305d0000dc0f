/* SPDX-License-Identifier: GPL-2.0 */
/* The project's one version number; CMake and the packages read it here. */
#ifndef BSNAP_VERSION_H
#define BSNAP_VERSION_H

#define BSNAP_VERSION "0.1.0"

#endif
