// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* save, and the reading of the file that apply makes true: the tool's own command syntax. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "iface.h"
#include "log.h"
#include "names.h"
#include "pindir.h"
#include "util.h"

#define MAX_TOKENS 256

/* --- reading ------------------------------------------------------------------------------ */

/* Re-records the error the shared parsers gave as FILE:LINE: why. */
static int at(const struct rg_config *c, int line, int rc)
{
	char why[1024];

	snprintf(why, sizeof(why), "%s", rg_last_error());
	return rg_fail(rc, "%s:%d: %s", c->file, line, why);
}

int rg_prefix_cmp(const void *a, const void *b)
{
	const struct rg_prefix_key *x = a, *y = b;
	int d = memcmp(x->addr, y->addr, sizeof(x->addr));

	return d ? d : (int)x->prefixlen - (int)y->prefixlen;
}

void rg_prefixes_sort(struct rg_prefix_key *k, uint32_t n)
{
	qsort(k, n, sizeof(*k), rg_prefix_cmp);
}

static int add_prefix(struct rg_config *c, int set, const struct rg_prefix_key *k, int line)
{
	for (uint32_t i = 0; i < c->nset[set]; i++)
		if (!rg_prefix_cmp(&c->set[set][i], k))
			return 0;
	if (c->nset[set] >= RG_MAX_PREFIXES)
		return rg_fail(RC_USAGE, "%s:%d: the %s set holds at most %d prefixes", c->file, line,
			       set ? "exempt" : "protect", RG_MAX_PREFIXES);
	c->set[set][c->nset[set]++] = *k;
	return 0;
}

/* policy protect add ITEM... / policy exempt add PREFIX... */
static int read_scope(struct rg_config *c, int set, int n, char **tok, int line)
{
	struct rg_prefix_key k;
	const char *why;
	uint32_t lo, hi;
	int rc;

	if (n < 2 || strcmp(tok[0], "add"))
		return rg_fail(RC_USAGE, "%s:%d: 'policy %s' in a configuration is 'policy %s add "
				       "ITEM...' (the file states the whole set)",
			       c->file, line, set ? "exempt" : "protect", set ? "exempt" : "protect");
	for (int i = 1; i < n; i++) {
		if (strchr(tok[i], '.') || strchr(tok[i], ':')) {
			if (parse_prefix(tok[i], &k, &why))
				return rg_fail(RC_USAGE, "%s:%d: invalid prefix '%s': %s", c->file, line,
					       tok[i], why);
			if ((rc = add_prefix(c, set, &k, line)))
				return rc;
			continue;
		}
		if (set)
			return rg_fail(RC_USAGE, "%s:%d: invalid prefix '%s': exempt takes IPv4 or IPv6 "
					       "prefixes (ports belong to 'protect')",
				       c->file, line, tok[i]);
		if (parse_port_range(tok[i], &lo, &hi))
			return rg_fail(RC_USAGE,
				       "%s:%d: invalid port or prefix '%s': a port 1-65535, a range like "
				       "8000-8080, or a prefix like 198.18.0.0/15",
				       c->file, line, tok[i]);
		for (uint32_t p = lo; p <= hi; p++)
			c->ports[p >> 6] |= 1ull << (p & 63);
	}
	return 0;
}

static int read_policy_set(struct rg_config *c, int n, char **tok, int line)
{
	struct rg_pol_edit before = c->pol;

	if (!n)
		return rg_fail(RC_USAGE, "%s:%d: policy set needs KEY=VALUE arguments", c->file, line);
	for (int i = 0; i < n; i++) {
		if (rg_pol_parse(tok[i], &c->pol)) {
			/* A key given on an earlier line: say which. */
			for (int k = 0; k < RG_NKNOBS; k++)
				if ((before.knob_given & (1u << k)) && !strncmp(tok[i], rg_knobs[k].key, strlen(rg_knobs[k].key)) &&
				    tok[i][strlen(rg_knobs[k].key)] == '=')
					return rg_fail(RC_USAGE, "%s:%d: %s is already set on line %d",
						       c->file, line, rg_knobs[k].key, c->knob_line[k]);
			for (int k = 0; k < rg_nnumkeys; k++)
				if ((before.num_given & (1u << k)) && !strncmp(tok[i], rg_numkeys[k].key, strlen(rg_numkeys[k].key)) &&
				    tok[i][strlen(rg_numkeys[k].key)] == '=')
					return rg_fail(RC_USAGE, "%s:%d: %s is already set on line %d",
						       c->file, line, rg_numkeys[k].key, c->num_line[k]);
			return at(c, line, RC_USAGE);
		}
	}
	for (int k = 0; k < RG_NKNOBS; k++)
		if ((c->pol.knob_given & ~before.knob_given) & (1u << k))
			c->knob_line[k] = line;
	for (int k = 0; k < rg_nnumkeys; k++)
		if ((c->pol.num_given & ~before.num_given) & (1u << k))
			c->num_line[k] = line;
	return 0;
}

/* "--opt VALUE" or "--opt=VALUE": the value, or NULL when this token is not that option. */
static const char *opt_value(const char *opt, char **tok, int n, int *i)
{
	size_t l = strlen(opt);

	if (!strncmp(tok[*i], opt, l) && tok[*i][l] == '=')
		return tok[*i] + l + 1;
	if (strcmp(tok[*i], opt))
		return NULL;
	if (*i + 1 >= n)
		return "";
	return tok[++*i];
}

static int read_flows(struct rg_config *c, int v6, const char *v, int line)
{
	uint32_t *dst = v6 ? &c->flows.v6 : &c->flows.v4, n;

	if (parse_u32(v, RG_MIN_FLOWS, RG_MAX_FLOWS, &n))
		return rg_fail(RC_USAGE, "%s:%d: invalid --flows%s '%s': a number from %u to %u",
			       c->file, line, v6 ? "6" : "", v, RG_MIN_FLOWS, RG_MAX_FLOWS);
	if (*dst && *dst != n)
		return rg_fail(RC_USAGE, "%s:%d: --flows%s %u, but line %d says %u: all interfaces "
				       "share one flow table", c->file, line, v6 ? "6" : "", n,
			       c->flows_line[v6], *dst);
	*dst = n;
	c->flows_line[v6] = line;
	return 0;
}

/* attach IFACE... [--role R] [--xdp-mode M] [--flows N] [--flows6 N] */
static int read_attach(struct rg_config *c, int n, char **tok, int line)
{
	uint32_t role = RG_ROLE_BOTH, mode = XDP_FLAGS_DRV_MODE;
	int first = c->nifs, rc;
	const char *v;

	for (int i = 0; i < n; i++) {
		if ((v = opt_value("--role", tok, n, &i))) {
			if (rg_role_parse(v, &role))
				return rg_fail(RC_USAGE, "%s:%d: invalid --role '%s': use host, gateway "
						       "or both", c->file, line, v);
		} else if ((v = opt_value("--xdp-mode", tok, n, &i))) {
			if (rg_xdp_mode_parse(v, &mode))
				return rg_fail(RC_USAGE, "%s:%d: invalid --xdp-mode '%s': use native or "
						       "skb", c->file, line, v);
		} else if ((v = opt_value("--flows", tok, n, &i))) {
			if ((rc = read_flows(c, 0, v, line)))
				return rc;
		} else if ((v = opt_value("--flows6", tok, n, &i))) {
			if ((rc = read_flows(c, 1, v, line)))
				return rc;
		} else if (tok[i][0] == '-') {
			return rg_fail(RC_USAGE, "%s:%d: unknown option '%s' of attach (--role, "
					       "--xdp-mode, --flows, --flows6)", c->file, line, tok[i]);
		} else {
			if (strlen(tok[i]) >= IF_NAMESIZE || strchr(tok[i], '/'))
				return rg_fail(RC_USAGE, "%s:%d: '%s' is not an interface name", c->file,
					       line, tok[i]);
			for (int j = 0; j < c->nifs; j++)
				if (!strcmp(c->ifs[j].name, tok[i]))
					return rg_fail(RC_USAGE, "%s:%d: interface %s is already attached "
							       "on line %d", c->file, line, tok[i],
						       c->ifs[j].line);
			if (c->nifs >= RG_MAX_IFACES)
				return rg_fail(RC_USAGE, "%s:%d: more than %d interfaces", c->file, line,
					       RG_MAX_IFACES);
			snprintf(c->ifs[c->nifs].name, IF_NAMESIZE, "%s", tok[i]);
			c->ifs[c->nifs++].line = line;
		}
	}
	if (c->nifs == first)
		return rg_fail(RC_USAGE, "%s:%d: attach needs at least one interface", c->file, line);
	for (int j = first; j < c->nifs; j++) {
		c->ifs[j].role = role;
		c->ifs[j].mode = mode;
	}
	return 0;
}

static int read_line(struct rg_config *c, char *s, int line)
{
	char *tok[MAX_TOKENS], *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(s, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (t[0] == '#')
			break;
		if (n == MAX_TOKENS)
			return rg_fail(RC_USAGE, "%s:%d: more than %d words", c->file, line, MAX_TOKENS);
		tok[n++] = t;
	}
	if (!n)
		return 0;
	if (!strcmp(tok[0], "attach"))
		return read_attach(c, n - 1, tok + 1, line);
	if (!strcmp(tok[0], "policy") && n >= 2) {
		if (!strcmp(tok[1], "set"))
			return read_policy_set(c, n - 2, tok + 2, line);
		if (!strcmp(tok[1], "protect"))
			return read_scope(c, 0, n - 2, tok + 2, line);
		if (!strcmp(tok[1], "exempt"))
			return read_scope(c, 1, n - 2, tok + 2, line);
	}
	return rg_fail(RC_USAGE,
		       "%s:%d: '%s' cannot appear in a configuration: it holds 'attach', 'policy set', "
		       "'policy protect add' and 'policy exempt add' lines (what is not named is "
		       "detached or left at its default)", c->file, line, tok[0]);
}

int rg_config_read(const char *file, struct rg_config *c)
{
	char *buf = NULL;
	size_t cap = 0;
	int line = 0, rc = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->file = file;
	f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	if (!f)
		return rg_fail(errno == ENOENT ? RC_USAGE : RC_ERR, "cannot read %s: %s", file,
			       errstr(-errno));
	while (!rc && getline(&buf, &cap, f) >= 0) {
		line++;
		if (strlen(buf) > 4096)
			rc = rg_fail(RC_USAGE, "%s:%d: line too long", file, line);
		else
			rc = read_line(c, buf, line);
	}
	if (!rc && ferror(f))
		rc = rg_fail(RC_ERR, "cannot read %s: %s", file, errstr(-EIO));
	free(buf);
	if (f != stdin)
		fclose(f);
	for (int s = 0; s < 2; s++)
		rg_prefixes_sort(c->set[s], c->nset[s]);
	return rc;
}

void rg_config_flows(const struct rg_config *c, struct rg_flow_sizes *out)
{
	out->v4 = c->flows.v4 ? c->flows.v4 : RG_DEFAULT_FLOWS;
	out->v6 = c->flows.v6 ? c->flows.v6 : out->v4;
}

void rg_config_policy(const struct rg_config *c, struct rg_policy *p)
{
	bool ports = false;

	rg_pol_default(p);
	p->generation = 0;
	rg_pol_apply(&c->pol, p);
	for (int i = 0; i < RG_PORT_WORDS; i++)
		ports |= c->ports[i] != 0;
	if (ports)
		p->bits |= RG_P_HAVE_PORTS;
	if (c->nset[0])
		p->bits |= RG_P_HAVE_PREFIXES;
	if (c->nset[1])
		p->bits |= RG_P_HAVE_EXEMPT;
}

/* --- save --------------------------------------------------------------------------------- */

static void save_ports(FILE *f, const uint64_t *w, bool *any)
{
	for (uint32_t p = 0; p < 65536; p++) {
		uint32_t q;

		if (!(w[p >> 6] >> (p & 63) & 1))
			continue;
		for (q = p; q + 1 < 65536 && (w[(q + 1) >> 6] >> ((q + 1) & 63) & 1); q++)
			;
		fprintf(f, "%s", *any ? " " : "policy protect add ");
		*any = true;
		if (q == p)
			fprintf(f, "%u", p);
		else
			fprintf(f, "%u-%u", p, q);
		p = q;
	}
}

static int save_scope(FILE *f, const struct rg_state *st)
{
	static struct rg_prefix_key keys[RG_MAX_PREFIXES];
	static uint64_t words[RG_PORT_WORDS];
	char buf[64];
	int err;

	for (int s = 0; s < 2; s++) {
		uint32_t n = RG_MAX_PREFIXES;
		bool any = false;

		if (!s && (err = rg_ports_read(st, words)))
			return err;
		if (!s)
			save_ports(f, words, &any);
		if ((err = rg_prefixes_read(st, s ? RG_M_EXEMPT : RG_M_PROTECT, keys, &n)))
			return err;
		rg_prefixes_sort(keys, n);
		for (uint32_t i = 0; i < n; i++) {
			format_prefix(&keys[i], buf, sizeof(buf));
			fprintf(f, "%s%s", any ? " " : s ? "policy exempt add " : "policy protect add ",
				buf);
			any = true;
		}
		if (any)
			fprintf(f, "\n");
	}
	return 0;
}

static int save_to(FILE *f, const struct rg_state *st)
{
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_flow_sizes cap;
	struct rg_policy p;
	bool first = true;
	char when[64];
	int err;

	if ((err = rg_policy_read(st, &p)) || (err = rg_ifaces_read(st, recs)))
		return err;
	rg_flow_capacity(st, &cap);
	format_time_ns(rg_realtime_ns(), false, when, sizeof(when));
	fprintf(f, "# rstguard configuration, saved %s from %s by 'rstguard save'.\n"
		   "# 'rstguard apply FILE' makes the live state equal to it: it attaches what is\n"
		   "# missing, re-attaches what differs, detaches interfaces not named here, and sets\n"
		   "# policy and scope as one change. One rstguard command per line.\n",
		when, cli.pin_dir);
	for (int i = 0; i < RG_MAX_IFACES; i++) {
		if (!rg_iface_used(&recs[i]))
			continue;
		fprintf(f, "attach %.16s --role %s --xdp-mode %s", recs[i].name,
			rg_role_str(recs[i].role), rg_xdp_mode_str(recs[i].xdp_mode));
		/* One table for all: its sizes go with the first interface. */
		if (first && cap.v4)
			fprintf(f, " --flows %u --flows6 %u", cap.v4, cap.v6);
		fprintf(f, "\n");
		first = false;
	}
	fprintf(f, "policy set");
	for (int k = 0; k < RG_NKNOBS; k++)
		fprintf(f, " %s=%s", rg_knobs[k].key, rg_knob_value(&p, k));
	fprintf(f, "\npolicy set");
	for (int i = 0; i < rg_nnumkeys; i++)
		fprintf(f, " %s=%u", rg_numkeys[i].key, rg_numkey_value(&p, i));
	fprintf(f, "\n");
	return save_scope(f, st);
}

/* The file is replaced whole or not at all: a temporary file beside it, then rename. */
static int save_file(const char *out, const struct rg_state *st)
{
	char tmp[PATH_MAX];
	int fd, err;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);
	fd = mkstemp(tmp);
	if (fd < 0)
		return rg_fail(RC_ERR, "cannot write %s: %s", out, errstr(-errno));
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	err = f ? save_to(f, st) : -errno;
	if (f && (fflush(f) || fsync(fileno(f))) && !err)
		err = -errno;
	if (f)
		fclose(f);
	if (!err && rename(tmp, out))
		err = -errno;
	if (err) {
		unlink(tmp);
		return rg_fail(RC_ERR, "cannot write %s: %s", out, errstr(err));
	}
	return 0;
}

static void save_usage(void)
{
	printf("Usage: rstguard save [-o FILE] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Writes the whole live configuration (interfaces with role and XDP mode, flow table\n"
	       "sizes, policy, timeouts, scope) as rstguard commands, one per line, to standard\n"
	       "output or, replaced atomically, to FILE. 'rstguard apply FILE' restores it; the\n"
	       "service applies %s at boot.\n", RG_DEFAULT_CONFIG);
}

int do_save(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		RG_COMMON_LONGOPTS,
		{}
	};
	const char *out = NULL;
	struct rg_state st;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":o:" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			save_usage();
			return RC_OK;
		case 'o':
			if (!*optarg)
				return rg_fail(RC_USAGE, "-o needs a file name");
			out = optarg;
			break;
		default:
			return bad_opt("save", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "save takes no arguments ('%s'); -o FILE names the file",
			       argv[optind]);
	if (cli.json)
		return rg_fail(RC_USAGE, "save writes rstguard commands, not JSON: leave out -j");
	if ((rc = pin_dir_check()))
		return rc;
	rc = rg_state_open_cli(&st, true);
	if (rc == RC_ABSENT)
		return rg_fail(RC_ERR, "nothing attached under %s: nothing to save", cli.pin_dir);
	if (rc)
		return rc;
	if (out) {
		rc = save_file(out, &st);
	} else {
		err = save_to(stdout, &st);
		rc = err ? rg_fail(RC_ERR, "cannot read the pinned maps: %s", errstr(err)) : RC_OK;
	}
	rg_state_close(&st);
	return rc;
}
