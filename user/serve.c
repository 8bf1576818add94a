// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* serve: a Prometheus endpoint on libmicrohttpd that reads the pinned maps at every scrape. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pindir.h"
#include "util.h"

/*
 * Connections are served by a small pool of event-loop threads, so a client costs a socket and
 * a small buffer, never a thread: clients that trickle their request a byte at a time cannot
 * take every thread, and scrapes keep being answered beside them. Prometheus needs one
 * connection; the limit bounds what clients can hold, far above what scrapers use.
 */
#define POOL_THREADS 4
#define CONN_LIMIT 256
#define CONN_MEMORY (16 * 1024)
/* An idle or stalled client (a scraper gone away without FIN) is dropped after this long. */
#define CONN_TIMEOUT 5
/* And a request must be complete this long after its connection opened, or after the previous
 * response on it: a client that keeps trickling bytes is cut off then (MHD's own timeout only
 * counts silence). */
#define REQUEST_TIMEOUT 10
#define THREAD_STACK (256 * 1024)
#define MAX_PATH_LEN 128

/* One open connection, watched for its request deadline. */
struct conn {
	int fd;
	uint64_t since;  /* connection opened, or the last response queued on it */
	struct conn *prev, *next;
};

struct server {
	struct rg_metrics_opts mo;
	const char *path;
	char landing[1024];
	pthread_mutex_t lock;
	/* The last exposition and when its rendering started, to share one rendering between
	 * scrapes that arrive while it runs (see scrape()). */
	char *cache;
	size_t cache_len;
	uint64_t cache_start;
	int last_err;
	/* The open connections, for the request deadline; conns_lock guards the list. */
	pthread_mutex_t conns_lock;
	struct conn *conns;
	bool stopping;
};

static uint64_t now_ns(void)
{
	return rg_monotonic_ns();
}

/* MHD tells of every connection it opens and closes: the list the deadline watch walks. */
static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct server *sv = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *k;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k = calloc(1, sizeof(*k));
		if (!k || !ci) {
			free(k);
			return;
		}
		k->fd = ci->connect_fd;
		k->since = now_ns();
		pthread_mutex_lock(&sv->conns_lock);
		k->next = sv->conns;
		if (sv->conns)
			sv->conns->prev = k;
		sv->conns = k;
		pthread_mutex_unlock(&sv->conns_lock);
		*socket_context = k;
		return;
	}
	k = *socket_context;
	if (!k)
		return;
	/* Unlinked before MHD closes the socket: the watch never touches a reused fd. */
	pthread_mutex_lock(&sv->conns_lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		sv->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&sv->conns_lock);
	free(k);
	*socket_context = NULL;
}

/* A response was queued: the connection's next request has its own deadline. */
static void conn_answered(struct server *sv, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	if (!k)
		return;
	pthread_mutex_lock(&sv->conns_lock);
	k->since = now_ns();
	pthread_mutex_unlock(&sv->conns_lock);
}

/*
 * Once a second, the connections past their request deadline are shut down: MHD then sees the
 * socket end and closes the connection itself, freeing its place for the next scraper.
 */
static void *deadline_watch(void *arg)
{
	struct server *sv = arg;

	for (;;) {
		uint64_t now = now_ns();

		pthread_mutex_lock(&sv->conns_lock);
		if (sv->stopping) {
			pthread_mutex_unlock(&sv->conns_lock);
			return NULL;
		}
		for (struct conn *k = sv->conns; k; k = k->next)
			if (now - k->since > REQUEST_TIMEOUT * 1000000000ull && k->fd >= 0) {
				shutdown(k->fd, SHUT_RDWR);
				k->fd = -1; /* once */
			}
		pthread_mutex_unlock(&sv->conns_lock);
		sleep(1);
	}
}

static struct MHD_Response *text_response(const char *body, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								  MHD_RESPMEM_PERSISTENT);

	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return r;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO; /* out of memory: MHD closes the connection */
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Renders the exposition for a request that arrived at `arrived`. Renderings are serialised, and
 * one that started after the request arrived is as fresh as the request can ask for, so a burst of
 * scrapes waiting on the lock shares one walk of the flow table instead of each doing its own;
 * nothing is ever served that was read before the request came in.
 */
static struct MHD_Response *scrape(struct server *sv, uint64_t arrived)
{
	struct MHD_Response *r = NULL;
	int err = 0, read_err = 0;

	pthread_mutex_lock(&sv->lock);
	if (!sv->cache || sv->cache_start < arrived) {
		uint64_t start = now_ns();
		char *buf;
		size_t len;

		err = rg_metrics_render(&sv->mo, &buf, &len, &read_err);
		if (!err) {
			free(sv->cache);
			sv->cache = buf;
			sv->cache_len = len;
			sv->cache_start = start;
			/* Said once per change, not at every scrape: the exposition itself has up 0. */
			if (read_err && read_err != sv->last_err)
				pr_warn("cannot read the pinned maps under %s/maps (%s): rstguard_up is 0\n",
					sv->mo.pin_dir, errstr(read_err));
			else if (!read_err && sv->last_err)
				pr_warn("pinned maps under %s/maps readable again\n", sv->mo.pin_dir);
			sv->last_err = read_err;
		}
	}
	if (!err) {
		r = MHD_create_response_from_buffer(sv->cache_len, sv->cache, MHD_RESPMEM_MUST_COPY);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, RG_METRICS_CONTENT_TYPE);
	}
	pthread_mutex_unlock(&sv->lock);
	if (err)
		r = text_response("cannot render the metrics\n", "text/plain; charset=utf-8");
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	static int seen_headers;
	struct server *sv = cls;
	struct MHD_Response *r;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		/* Answered as soon as the headers are in: MHD then closes the connection rather
		 * than read a body nobody wants. */
		r = text_response("method not allowed\n", "text/plain; charset=utf-8");
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	}
	/* The first call has only the headers. A response queued then makes MHD close the
	 * connection after it (it cannot know the request is complete), so GET and HEAD are
	 * answered on the next call, which keeps HTTP/1.1 keep-alive working for scrapers. */
	if (!*con_cls) {
		*con_cls = &seen_headers;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body on a GET means nothing here: discarded */
		return MHD_YES;
	}
	conn_answered(sv, c);
	if (!strcmp(url, sv->path))
		return reply(c, MHD_HTTP_OK, scrape(sv, now_ns()));
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, text_response(sv->landing, "text/html; charset=utf-8"));
	return reply(c, MHD_HTTP_NOT_FOUND, text_response("not found\n", "text/plain; charset=utf-8"));
}

/* libmicrohttpd's own complaints (a client that vanished, a malformed request) are routine for
 * a server and go to -v only. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (rg_log_verbosity < RG_LOG_INFO)
		return;
	fputs("rstguard: libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* "ADDR:PORT", "[V6ADDR]:PORT", or ":PORT" for every address (IPv6 and IPv4 alike). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE }, *res, *ai;
	char host[256], port[8];
	const char *colon = strrchr(s, ':');
	size_t hl;
	uint32_t p;
	int err;

	if (!colon || parse_u32(colon + 1, 0, 65535, &p))
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", p);
	hl = colon - s;
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
		hints.ai_family = AF_INET6;
	} else if (memchr(s, ':', hl)) {
		return -EINVAL; /* a bare IPv6 address is ambiguous: it needs its brackets */
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	err = getaddrinfo(hl ? host : NULL, port, &hints, &res);
	if (err)
		return -EINVAL;
	/* For the wildcard prefer IPv6: with V6ONLY off it takes IPv4 too. */
	for (ai = res; ai; ai = ai->ai_next)
		if (hl || ai->ai_family == AF_INET6)
			break;
	if (!ai)
		ai = res;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	}
}

/* Our own listening socket: a bind failure is then reported with its reason, and the port
 * actually bound (for :0) is known. */
static int open_listener(struct sockaddr_storage *ss, socklen_t sslen, const char *what)
{
	int one = 1, zero = 0;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return rg_fail(RC_ERR, "cannot create a socket for %s: %s", what, errstr(-errno)), -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)ss, sslen) || listen(fd, 128)) {
		rg_fail(RC_ERR, "cannot listen on %s: %s", what, errstr(-errno));
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)ss, &sslen);
	return fd;
}

static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || n > MAX_PATH_LEN || p[0] != '/')
		return false;
	/* Only characters that need no escaping in a URL or in the landing page's HTML. */
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-") == n;
}

static void serve_usage(void)
{
	printf("Usage: rstguard serve [--listen ADDR:PORT] [--metrics-path PATH] [--per-cpu]\n"
	       "                      [--no-flow-count] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Serves the Prometheus exposition of the pinned maps over HTTP (libmicrohttpd),\n"
	       "read at every scrape: GET PATH (default %s) for the metrics, GET / for a\n"
	       "page that links to them. Other paths answer 404, other methods 405.\n"
	       "--listen         default %s:%d (loopback only); [::1]:PORT for IPv6,\n"
	       "                 :PORT for every address\n"
	       "--per-cpu        label the counters with the CPU instead of summing them\n"
	       "--no-flow-count  leave out rstguard_flows_tracked (counting visits every entry,\n"
	       "                 about 0.4 s per million tracked flows)\n"
	       "Runs until SIGTERM or SIGINT; the filter stays attached either way. Nothing\n"
	       "needs to be attached at start: until it is, rstguard_up is 0.\n",
	       RG_METRICS_DEFAULT_PATH, RG_METRICS_DEFAULT_ADDR, RG_METRICS_DEFAULT_PORT);
}

int do_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "metrics-path", required_argument, NULL, 'm' },
		{ "per-cpu", no_argument, NULL, 'C' },
		{ "no-flow-count", no_argument, NULL, 'N' },
		RG_COMMON_LONGOPTS,
		{}
	};
	static struct server sv = { .path = RG_METRICS_DEFAULT_PATH,
				    .lock = PTHREAD_MUTEX_INITIALIZER,
				    .conns_lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t watch;
	char listen_def[64], where[INET6_ADDRSTRLEN + 16];
	const char *listen_arg = listen_def;
	struct sockaddr_storage ss = {};
	socklen_t sslen = sizeof(ss);
	struct MHD_Daemon *d;
	sigset_t sigs;
	int c, fd, sig = 0;

	snprintf(listen_def, sizeof(listen_def), "%s:%d", RG_METRICS_DEFAULT_ADDR,
		 RG_METRICS_DEFAULT_PORT);
	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			serve_usage();
			return RC_OK;
		case 'l':
			listen_arg = optarg;
			break;
		case 'm':
			sv.path = optarg;
			break;
		case 'C':
			sv.mo.per_cpu = true;
			break;
		case 'N':
			sv.mo.no_flow_count = true;
			break;
		default:
			return bad_opt("serve", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "serve takes no arguments ('%s')", argv[optind]);
	if (parse_listen(listen_arg, &ss, &sslen))
		return rg_fail(RC_USAGE,
			       "invalid --listen '%s': ADDR:PORT, [IPV6]:PORT or :PORT, port 0-65535",
			       listen_arg);
	if (!path_ok(sv.path))
		return rg_fail(RC_USAGE,
			       "invalid --metrics-path '%s': '/' then letters, digits, '/._~-' (up to %d)",
			       sv.path, MAX_PATH_LEN);
	if (pin_dir_check())
		return RC_USAGE;
	sv.mo.pin_dir = cli.pin_dir;
	snprintf(sv.landing, sizeof(sv.landing),
		 "<!DOCTYPE html>\n<html><head><title>rstguard exporter</title></head><body>\n"
		 "<h1>rstguard exporter</h1>\n<p><a href=\"%s\">Metrics</a></p>\n</body></html>\n",
		 sv.path);

	fd = open_listener(&ss, sslen, listen_arg);
	if (fd < 0)
		return RC_ERR;
	format_sockaddr(&ss, where, sizeof(where));

	/* The signals are taken synchronously by sigwait below; blocked before MHD starts its
	 * threads, they inherit the mask and none of them is interrupted by one. A client that
	 * disconnects mid-response must cost an EPIPE, never the process. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, handle, &sv,
			     /* First, so that every message of MHD's goes through it. */
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)POOL_THREADS,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT,
			     MHD_OPTION_NOTIFY_CONNECTION, notify_conn, &sv,
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
			     MHD_OPTION_END);
	if (!d) {
		close(fd);
		return rg_fail(RC_ERR, "cannot start the HTTP server on %s (libmicrohttpd refused; -v says why)",
			       where);
	}
	pr_warn("serving http://%s%s for the pins under %s\n", where, sv.path, cli.pin_dir);
	pthread_create(&watch, NULL, deadline_watch, &sv);

	while (sig != SIGTERM && sig != SIGINT) {
		if (sigwait(&sigs, &sig))
			break;
		if (sig == SIGHUP)
			pr_info("SIGHUP: nothing to reload, the maps are read at every scrape\n");
	}
	pthread_mutex_lock(&sv.conns_lock);
	sv.stopping = true;
	pthread_mutex_unlock(&sv.conns_lock);
	pthread_join(watch, NULL);
	/* Waits for the pool threads: no response is cut off by exit. */
	MHD_stop_daemon(d);
	free(sv.cache);
	pr_warn("stopped on %s; the filter stays attached\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	return RC_OK;
}
