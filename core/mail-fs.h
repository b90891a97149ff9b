/* SPDX-License-Identifier: MIT */
#ifndef POPLARD_MAIL_FS_H
#define POPLARD_MAIL_FS_H

#include <stdbool.h>

#include "poplar-private.h"

/* Warns (poplar_config_warning) about mail settings that hold on a local
 * disk but not on the network filesystem the [server] mail location is
 * on: @mail is the [server] mail location, read with the [store-mbox]
 * section of @file. */
void poplard_mail_fs_check(PoplarConfigFile *file, const char *mail);

#endif /* POPLARD_MAIL_FS_H */
