/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The command table's entry points: one do_<cmd>() per command, argv[0] is the command name. */
#ifndef RG_CMDS_H
#define RG_CMDS_H

int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_status(int argc, char **argv);
int do_policy(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_flows(int argc, char **argv);
int do_save(int argc, char **argv);
int do_apply(int argc, char **argv);
int do_capture(int argc, char **argv);

#endif
