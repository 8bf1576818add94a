/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Byte-order macros of libbpf's bpf_endian.h for the plain-C build (little- or big-endian host). */
#ifndef RG_SHIM_BPF_ENDIAN_H
#define RG_SHIM_BPF_ENDIAN_H

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htons(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define bpf_htonl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#else
#define bpf_htons(x) ((__u16)(x))
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htonl(x) ((__u32)(x))
#define bpf_ntohl(x) ((__u32)(x))
#endif
#define bpf_cpu_to_be16 bpf_htons
#define bpf_be16_to_cpu bpf_ntohs
#define bpf_cpu_to_be32 bpf_htonl
#define bpf_be32_to_cpu bpf_ntohl

#endif
