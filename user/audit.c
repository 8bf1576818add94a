// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The audit trail on syslog: one message per change. */
#include "audit.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

/* Who asked: the uid, and the user sudo ran it for, when it did. */
static void who(char *buf, size_t len)
{
	const char *sudo = getenv("SUDO_USER");

	if (sudo && *sudo)
		snprintf(buf, len, "uid=%u sudo_user=%s", (unsigned int)getuid(), sudo);
	else
		snprintf(buf, len, "uid=%u", (unsigned int)getuid());
}

void rg_audit(const char *fmt, ...)
{
	static bool open;
	char msg[2048], by[160];
	va_list ap;

	if (!open) {
		/* LOG_NDELAY: connect now, so a message is not lost to a chroot or a closed fd. */
		openlog("rstguard", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		open = true;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	who(by, sizeof(by));
	syslog(LOG_NOTICE, "%s (%s)", msg, by);
}
