// netmap.h is netmap's binary interface (API version 14): every offset and
// size below is the one netmap's own sys/net/netmap.h and netmap_legacy.h
// give on LP64 Linux, written out as numbers, so that a change to upio's
// header that would break a program compiled against netmap's fails here.
#include <upio/netmap.h>

#include <cstddef>

#define UPIO_AT(type, field, off) static_assert(offsetof(type, field) == (off), #type "." #field)
#define UPIO_SIZE(type, n) static_assert(sizeof(type) == (n), "sizeof " #type)

static_assert(sizeof(void*) == 8, "the numbers below are LP64's");
static_assert(NETMAP_API == 14 && IFNAMSIZ == 16 && NETMAP_REQ_IFNAMSIZ == 64);
static_assert(NIOCTXSYNC == 0x6994 && NIOCRXSYNC == 0x6995);
static_assert(NIOCCTRL == 0xc0586997); // _IOWR('i', 151, 88 bytes)
static_assert(NIOCGINFO == 0xc03c6991 && NIOCREGIF == 0xc03c6992); // _IOWR('i', 145/146, 60 bytes)

UPIO_SIZE(netmap_slot, 16);
UPIO_AT(netmap_slot, buf_idx, 0);
UPIO_AT(netmap_slot, len, 4);
UPIO_AT(netmap_slot, flags, 6);
UPIO_AT(netmap_slot, ptr, 8);

UPIO_SIZE(netmap_ring, 256);
static_assert(alignof(netmap_ring) == NM_CACHE_ALIGN);
UPIO_AT(netmap_ring, buf_ofs, 0);
UPIO_AT(netmap_ring, num_slots, 8);
UPIO_AT(netmap_ring, nr_buf_size, 12);
UPIO_AT(netmap_ring, ringid, 16);
UPIO_AT(netmap_ring, dir, 18);
UPIO_AT(netmap_ring, head, 20);
UPIO_AT(netmap_ring, cur, 24);
UPIO_AT(netmap_ring, tail, 28);
UPIO_AT(netmap_ring, flags, 32);
UPIO_AT(netmap_ring, ts, 40);
UPIO_AT(netmap_ring, offset_mask, 56);
UPIO_AT(netmap_ring, buf_align, 64);
UPIO_AT(netmap_ring, sem, 128);
UPIO_AT(netmap_ring, slot, 256);

UPIO_SIZE(netmap_if, 56);
UPIO_AT(netmap_if, ni_name, 0);
UPIO_AT(netmap_if, ni_version, 16);
UPIO_AT(netmap_if, ni_flags, 20);
UPIO_AT(netmap_if, ni_tx_rings, 24);
UPIO_AT(netmap_if, ni_rx_rings, 28);
UPIO_AT(netmap_if, ni_bufs_head, 32);
UPIO_AT(netmap_if, ni_host_tx_rings, 36);
UPIO_AT(netmap_if, ni_host_rx_rings, 40);
UPIO_AT(netmap_if, ni_spare1, 44);
UPIO_AT(netmap_if, ring_ofs, 56);

UPIO_SIZE(nmreq_option, 24);
UPIO_AT(nmreq_option, nro_next, 0);
UPIO_AT(nmreq_option, nro_reqtype, 8);
UPIO_AT(nmreq_option, nro_status, 12);
UPIO_AT(nmreq_option, nro_size, 16);

UPIO_SIZE(nmreq_header, 88);
UPIO_AT(nmreq_header, nr_version, 0);
UPIO_AT(nmreq_header, nr_reqtype, 2);
UPIO_AT(nmreq_header, nr_reserved, 4);
UPIO_AT(nmreq_header, nr_name, 8);
UPIO_AT(nmreq_header, nr_options, 72);
UPIO_AT(nmreq_header, nr_body, 80);

UPIO_SIZE(nmreq_register, 56);
UPIO_AT(nmreq_register, nr_offset, 0);
UPIO_AT(nmreq_register, nr_memsize, 8);
UPIO_AT(nmreq_register, nr_tx_slots, 16);
UPIO_AT(nmreq_register, nr_rx_slots, 20);
UPIO_AT(nmreq_register, nr_tx_rings, 24);
UPIO_AT(nmreq_register, nr_rx_rings, 26);
UPIO_AT(nmreq_register, nr_host_tx_rings, 28);
UPIO_AT(nmreq_register, nr_host_rx_rings, 30);
UPIO_AT(nmreq_register, nr_mem_id, 32);
UPIO_AT(nmreq_register, nr_ringid, 34);
UPIO_AT(nmreq_register, nr_mode, 36);
UPIO_AT(nmreq_register, nr_extra_bufs, 40);
UPIO_AT(nmreq_register, nr_flags, 48);

UPIO_SIZE(nmreq_port_info_get, 32);
UPIO_AT(nmreq_port_info_get, nr_memsize, 0);
UPIO_AT(nmreq_port_info_get, nr_tx_slots, 8);
UPIO_AT(nmreq_port_info_get, nr_rx_slots, 12);
UPIO_AT(nmreq_port_info_get, nr_tx_rings, 16);
UPIO_AT(nmreq_port_info_get, nr_rx_rings, 18);
UPIO_AT(nmreq_port_info_get, nr_host_tx_rings, 20);
UPIO_AT(nmreq_port_info_get, nr_host_rx_rings, 22);
UPIO_AT(nmreq_port_info_get, nr_mem_id, 24);
UPIO_AT(nmreq_port_info_get, pad, 26);

UPIO_SIZE(nmreq_vale_attach, 64);
UPIO_AT(nmreq_vale_attach, reg, 0);
UPIO_AT(nmreq_vale_attach, port_index, 56);
UPIO_AT(nmreq_vale_attach, pad1, 60);
UPIO_SIZE(nmreq_vale_detach, 8);
UPIO_AT(nmreq_vale_detach, port_index, 0);
UPIO_SIZE(nmreq_vale_list, 8);
UPIO_AT(nmreq_vale_list, nr_bridge_idx, 0);
UPIO_AT(nmreq_vale_list, pad1, 2);
UPIO_AT(nmreq_vale_list, nr_port_idx, 4);
UPIO_SIZE(nmreq_port_hdr, 8);
UPIO_AT(nmreq_port_hdr, nr_hdr_len, 0);

UPIO_SIZE(nmreq_vale_newif, 16);
UPIO_AT(nmreq_vale_newif, nr_tx_slots, 0);
UPIO_AT(nmreq_vale_newif, nr_rx_slots, 4);
UPIO_AT(nmreq_vale_newif, nr_tx_rings, 8);
UPIO_AT(nmreq_vale_newif, nr_rx_rings, 10);
UPIO_AT(nmreq_vale_newif, nr_mem_id, 12);
UPIO_AT(nmreq_vale_newif, pad1, 14);

UPIO_SIZE(nmreq_vale_polling, 16);
UPIO_AT(nmreq_vale_polling, nr_mode, 0);
UPIO_AT(nmreq_vale_polling, nr_first_cpu_id, 4);
UPIO_AT(nmreq_vale_polling, nr_num_polling_cpus, 8);

UPIO_SIZE(nmreq_pools_info, 64);
UPIO_AT(nmreq_pools_info, nr_memsize, 0);
UPIO_AT(nmreq_pools_info, nr_mem_id, 8);
UPIO_AT(nmreq_pools_info, nr_if_pool_offset, 16);
UPIO_AT(nmreq_pools_info, nr_if_pool_objtotal, 24);
UPIO_AT(nmreq_pools_info, nr_if_pool_objsize, 28);
UPIO_AT(nmreq_pools_info, nr_ring_pool_offset, 32);
UPIO_AT(nmreq_pools_info, nr_ring_pool_objtotal, 40);
UPIO_AT(nmreq_pools_info, nr_ring_pool_objsize, 44);
UPIO_AT(nmreq_pools_info, nr_buf_pool_offset, 48);
UPIO_AT(nmreq_pools_info, nr_buf_pool_objtotal, 56);
UPIO_AT(nmreq_pools_info, nr_buf_pool_objsize, 60);

UPIO_SIZE(nmreq_sync_kloop_start, 8);
UPIO_SIZE(nm_csb_atok, 64);
UPIO_SIZE(nm_csb_ktoa, 64);
UPIO_SIZE(nmreq_opt_sync_kloop_eventfds, 24);
UPIO_SIZE(nmreq_opt_sync_kloop_mode, 32);
UPIO_AT(nmreq_opt_sync_kloop_mode, mode, 24);
UPIO_SIZE(nmreq_opt_extmem, 96);
UPIO_AT(nmreq_opt_extmem, nro_usrptr, 24);
UPIO_AT(nmreq_opt_extmem, nro_info, 32);
UPIO_SIZE(nmreq_opt_csb, 40);
UPIO_AT(nmreq_opt_csb, csb_atok, 24);
UPIO_AT(nmreq_opt_csb, csb_ktoa, 32);
UPIO_SIZE(nmreq_opt_offsets, 56);
UPIO_AT(nmreq_opt_offsets, nro_max_offset, 24);
UPIO_AT(nmreq_opt_offsets, nro_initial_offset, 32);
UPIO_AT(nmreq_opt_offsets, nro_offset_bits, 40);
UPIO_AT(nmreq_opt_offsets, nro_tx_align, 44);
UPIO_AT(nmreq_opt_offsets, nro_min_gap, 48);

UPIO_SIZE(nmreq, 60);
UPIO_AT(nmreq, nr_name, 0);
UPIO_AT(nmreq, nr_version, 16);
UPIO_AT(nmreq, nr_offset, 20);
UPIO_AT(nmreq, nr_memsize, 24);
UPIO_AT(nmreq, nr_tx_slots, 28);
UPIO_AT(nmreq, nr_rx_slots, 32);
UPIO_AT(nmreq, nr_tx_rings, 36);
UPIO_AT(nmreq, nr_rx_rings, 38);
UPIO_AT(nmreq, nr_ringid, 40);
UPIO_AT(nmreq, nr_cmd, 42);
UPIO_AT(nmreq, nr_arg1, 44);
UPIO_AT(nmreq, nr_arg2, 46);
UPIO_AT(nmreq, nr_arg3, 48);
UPIO_AT(nmreq, nr_flags, 52);
UPIO_AT(nmreq, spare2, 56);
UPIO_SIZE(nm_ifreq, 16 + 256);

static_assert(NS_BUF_CHANGED == 0x1 && NS_REPORT == 0x2 && NS_FORWARD == 0x4 && NS_NO_LEARN == 0x8 &&
              NS_INDIRECT == 0x10 && NS_MOREFRAG == 0x20 && NS_TXMON == 0x40 && NS_PORT_SHIFT == 8);
static_assert(NR_TIMESTAMP == 2 && NR_FORWARD == 4);
static_assert(NETMAP_REQ_REGISTER == 1 && NETMAP_REQ_POOLS_INFO_GET == 12 && NETMAP_REQ_CSB_ENABLE == 15);
static_assert(NETMAP_REQ_OPT_EXTMEM == 1 && NETMAP_REQ_OPT_OFFSETS == 5);
static_assert(NR_REG_ALL_NIC == 1 && NR_REG_ONE_NIC == 4 && NR_REG_NULL == 7 && NR_REG_ONE_SW == 8);
static_assert(NR_TX_RINGS_ONLY == 0x4000 && NR_RX_RINGS_ONLY == 0x2000 && NR_EXCLUSIVE == 0x800);
