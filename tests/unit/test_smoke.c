// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The shipped object loads in every role, and the basic gateway verdicts hold end to end. */
#include "harness.h"

#include <linux/bpf.h>
#include <string.h>

static void handshake(struct rg_env *e, uint32_t cisn, uint32_t sisn)
{
	struct pktspec syn = { .seq = cisn, .flags = TF_SYN, .has_wscale = 1, .wscale = 7 };
	struct pktspec synack = { .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				  .dport = 40000, .seq = sisn, .ack = cisn + 1,
				  .flags = TF_SYN | TF_ACK, .has_wscale = 1, .wscale = 7 };
	struct pktspec ack = { .seq = cisn + 1, .ack = sisn + 1, .flags = TF_ACK, .win = 512 };

	env_run_spec(e, &syn);
	env_run_spec(e, &synack);
	env_run_spec(e, &ack);
}

int main(void)
{
	struct rg_env e;
	struct rg_snap s;
	struct rg_flow f;

	for (int role = RG_ROLE_HOST; role < RG_ROLE_MAX; role++) {
		int err = env_open(&e, role, 0, 1024);

		CHECK(err == 0, "load role %s: %s", rg_role_names[role], strerror(-err));
		if (!err)
			env_close(&e);
	}
	for (int r = 0; r < RG_R_MAX; r++)
		CHECK(rg_reason_names[r] && rg_reason_names[r][0], "reason %d has a name", r);
	for (int s2 = 0; s2 < RG_ST_MAX; s2++)
		CHECK(rg_state_names[s2] != NULL, "state %d has a name", s2);

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024))
		return t_summary("smoke");
	handshake(&e, 1000, 5000);
	CHECK(env_flow(&e, &(struct pktspec){0}, &f) == 0, "flow tracked after handshake");

	/* Exact RST from the server: seq = server's SND.NXT. */
	env_snap(&e, &s);
	{
		struct pktspec blind = { .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
					 .dport = 40000, .seq = 123456789, .flags = TF_RST };
		struct pktspec exact = blind;

		exact.seq = 5001;
		CHECK(env_run_spec(&e, &blind) == XDP_DROP, "blind RST dropped");
		CHECK(env_delta(&e, &s, RG_R_OUT_OF_WINDOW, RG_ACT_DROP) == 1, "counted out_of_window");
		CHECK(env_run_spec(&e, &exact) == XDP_PASS, "exact RST passes");
		CHECK(env_delta(&e, &s, RG_R_VALID, RG_ACT_PASS) == 1, "counted valid");
	}
	env_close(&e);
	return t_summary("smoke");
}
