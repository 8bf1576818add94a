/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The audit trail: every change rstguard makes (attach, detach, apply, policy) goes to syslog,
 * which the journal picks up, saying what changed, from what, to what, and who asked. */
#ifndef RG_AUDIT_H
#define RG_AUDIT_H

/* One message, facility daemon, priority notice, ident "rstguard", prefixed with the user. */
void rg_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
