/*
 * upio/netmap.h -- the shared ring layout, netmap-compatible.
 *
 * This header is valid C and C++. It is netmap's binary interface, API
 * version 14: the same structures, field for field and byte for byte, the
 * same flags, constants and ioctl numbers, the requests of NIOCCTRL and the
 * legacy struct nmreq. A program compiled against netmap's <net/netmap.h>
 * reads upio's rings as it reads netmap's (src/core/netmap_abi.cpp checks
 * every offset and size against netmap's published layout); it declares
 * nothing of upio's own. The three structures a netmap program works with:
 *
 *   netmap_if    one per open port: names the port and locates its rings
 *   netmap_ring  one per hardware/software queue and direction
 *   netmap_slot  one per packet buffer owned by a ring
 *
 * MEMORY LAYOUT. Everything lives in one memory region (see memory.hpp):
 *
 *   +-----------+  <- region base
 *   | netmap_if |  ring_ofs[i] = byte offset from the netmap_if to ring i
 *   +-----------+
 *   | tx ring 0 |  netmap_ring header followed by num_slots netmap_slot
 *   | ...       |
 *   | rx ring 0 |
 *   | ...       |
 *   +-----------+
 *   | buffer 0  |  buf_ofs = offset from *each ring* to buffer 0;
 *   | buffer 1  |  buffer i is at (char *)ring + buf_ofs + i * nr_buf_size
 *   | ...       |
 *   +-----------+
 *
 * Buffers 0 and 1 are reserved (as in netmap) and never valid in a slot.
 *
 * DATA OWNERSHIP. Fields marked (u) belong to the application, (k) to the
 * framework ("kernel" in netmap's words), (c) are constant after open.
 *
 *   - The application owns the slots in [head, tail). It may process them in
 *     any order, then advance head (and cur) past the ones it is done with.
 *   - The framework owns the slots in [tail, head). A sync (txsync/rxsync)
 *     hands [old head, head) back to the framework and moves tail.
 *   - One slot is always left empty: head == tail means "nothing for the
 *     application"; the ring never holds num_slots packets.
 *   - cur is a wake-up point: a blocking wait returns once tail moves past cur.
 *
 * The fields netmap declares const (buf_ofs, num_slots, ...) are plain
 * here: the framework writes them; the layout is the same.
 *
 * Every sync validates head, cur and the returned slots first (the
 * "prologue"); a ring that fails is left untouched and the sync reports an
 * error until the application repairs the ring.
 */
#ifndef UPIO_NETMAP_H
#define UPIO_NETMAP_H

#include <net/if.h> /* IFNAMSIZ */
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NETMAP_API 14 /* current API version */
#define NETMAP_MIN_API 14
#define NETMAP_MAX_API 15

#define NM_CACHE_ALIGN 128

/* A slot: one packet buffer, or one fragment of a multi-slot packet. */
struct netmap_slot {
    uint32_t buf_idx; /* (u/k) index of the buffer in the region */
    uint16_t len;     /* (u/k) bytes of the packet in this buffer */
    uint16_t flags;   /* (u/k) NS_* below */
    uint64_t ptr;     /* (u) free for the application (netmap: indirect ptr, offsets) */
};

/* buf_idx changed: a driver must reload its DMA address for this slot. */
#define NS_BUF_CHANGED 0x0001
/* ask for a completion report (an interrupt on NIC ports) for this slot. */
#define NS_REPORT 0x0002
/* netmap: pass the packet to the other side (host stack); not used by upio. */
#define NS_FORWARD 0x0004
/* VALE: do not learn the source MAC of this packet. */
#define NS_NO_LEARN 0x0008
/* netmap: ptr holds a userspace buffer; not used by upio. */
#define NS_INDIRECT 0x0010
/* more fragments follow in the next slot; the last one has this clear.
 * A tx sync that would leave the ring full of one unfinished chain is
 * refused: with no free slot, its end could never be queued. */
#define NS_MOREFRAG 0x0020
/* netmap monitor ports: the packet comes from a tx ring. */
#define NS_TXMON 0x0040
#define NS_PORT_SHIFT 8
#define NS_PORT_MASK (0xff << NS_PORT_SHIFT)
#define NS_RFRAGS(_slot) (((_slot)->flags >> 8) & 0xff)
#define NETMAP_MAX_FRAGS 64

/* A ring: the header, then num_slots slots. */
struct netmap_ring {
    int64_t buf_ofs;      /* (c) offset from this ring to buffer 0 */
    uint32_t num_slots;   /* (c) number of slots */
    uint32_t nr_buf_size; /* (c) size of every buffer */
    uint16_t ringid;      /* (c) index of the ring within its direction */
    uint16_t dir;         /* (c) 0: tx, 1: rx */

    uint32_t head; /* (u) first slot the application owns */
    uint32_t cur;  /* (u) wake-up point; head <= cur <= tail */
    uint32_t tail; /* (k) first slot the framework owns */

    uint32_t flags;    /* (u) NR_* below */
    struct timeval ts; /* (k) time of the last sync (with NR_TIMESTAMP) */

    uint64_t offset_mask; /* (c) netmap's slot offsets (NETMAP_REQ_OPT_OFFSETS): 0 in upio */
    uint64_t buf_align;   /* (c) likewise: 0 in upio */

    /* opaque space for the framework; keeps slots on their own lines */
    uint8_t sem[128] __attribute__((__aligned__(NM_CACHE_ALIGN)));

    struct netmap_slot slot[]; /* num_slots entries */
};

#define NR_TX 0
#define NR_RX 1
/* ask the framework to set ring->ts on every sync */
#define NR_TIMESTAMP 0x0002
/* netmap: honour NS_FORWARD on this ring; not used by upio. */
#define NR_FORWARD 0x0004

/* The port's descriptor: name, ring counts and the offsets of its rings. */
struct netmap_if {
    char ni_name[IFNAMSIZ];    /* (c) the port's name, cut to IFNAMSIZ-1 characters */
    uint32_t ni_version;       /* (c) NETMAP_API */
    uint32_t ni_flags;         /* (c) NI_* */
    uint32_t ni_tx_rings;      /* (c) number of tx rings */
    uint32_t ni_rx_rings;      /* (c) number of rx rings */
    uint32_t ni_bufs_head;     /* (u) first extra buffer; each one's first
                                  4 bytes hold the next index, 0 ends */
    uint32_t ni_host_tx_rings; /* (c) host rings: always 0 in upio */
    uint32_t ni_host_rx_rings; /* (c) */
    uint32_t ni_spare1[3];
    ssize_t ring_ofs[]; /* (c) tx rings first, then rx rings */
};
#define NI_PRIV_MEM 0x1 /* private memory region */

/*
 * The control interface (NIOCCTRL): a header naming the port and the
 * request, a request body and an optional list of options, each passed by
 * address in a uint64_t.
 */
#define NETMAP_REQ_MAXSIZE 4096

struct nmreq_option {
    uint64_t nro_next;    /* address of the next option, 0 ends */
    uint32_t nro_reqtype; /* NETMAP_REQ_OPT_* */
    uint32_t nro_status;  /* (out) 0 or an errno */
    uint64_t nro_size;    /* size of a variable-sized option */
};

struct nmreq_header {
    uint16_t nr_version; /* NETMAP_API */
    uint16_t nr_reqtype; /* NETMAP_REQ_* */
    uint32_t nr_reserved;
#define NETMAP_REQ_IFNAMSIZ 64
    char nr_name[NETMAP_REQ_IFNAMSIZ]; /* port name */
    uint64_t nr_options; /* address of the first nmreq_option, or 0 */
    uint64_t nr_body;    /* address of the request's nmreq_* body */
};

enum {
    NETMAP_REQ_REGISTER = 1,
    NETMAP_REQ_PORT_INFO_GET,
    NETMAP_REQ_VALE_ATTACH,
    NETMAP_REQ_VALE_DETACH,
    NETMAP_REQ_VALE_LIST,
    NETMAP_REQ_PORT_HDR_SET,
    NETMAP_REQ_PORT_HDR_GET,
    NETMAP_REQ_VALE_NEWIF,
    NETMAP_REQ_VALE_DELIF,
    NETMAP_REQ_VALE_POLLING_ENABLE,
    NETMAP_REQ_VALE_POLLING_DISABLE,
    NETMAP_REQ_POOLS_INFO_GET,
    NETMAP_REQ_SYNC_KLOOP_START,
    NETMAP_REQ_SYNC_KLOOP_STOP,
    NETMAP_REQ_CSB_ENABLE,
};

enum {
    NETMAP_REQ_OPT_EXTMEM = 1,
    NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS,
    NETMAP_REQ_OPT_CSB,
    NETMAP_REQ_OPT_SYNC_KLOOP_MODE,
    NETMAP_REQ_OPT_OFFSETS,
    NETMAP_REQ_OPT_MAX,
};

struct nmreq_register {
    uint64_t nr_offset;  /* (out) netmap_if's offset in the region */
    uint64_t nr_memsize; /* (out) size of the region */
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_host_tx_rings;
    uint16_t nr_host_rx_rings;
    uint16_t nr_mem_id;
    uint16_t nr_ringid;    /* the ring of NR_REG_ONE_NIC */
    uint32_t nr_mode;      /* NR_REG_* */
    uint32_t nr_extra_bufs;
    uint64_t nr_flags; /* NR_* below */
#define NR_MONITOR_TX 0x100
#define NR_MONITOR_RX 0x200
#define NR_ZCOPY_MON 0x400
#define NR_EXCLUSIVE 0x800
#define NR_RX_RINGS_ONLY 0x2000
#define NR_TX_RINGS_ONLY 0x4000
#define NR_ACCEPT_VNET_HDR 0x8000
#define NR_DO_RX_POLL 0x10000
#define NR_NO_TX_POLL 0x20000
};

enum {
    NR_REG_DEFAULT = 0,
    NR_REG_ALL_NIC = 1,
    NR_REG_SW = 2,
    NR_REG_NIC_SW = 3,
    NR_REG_ONE_NIC = 4,
    NR_REG_PIPE_MASTER = 5,
    NR_REG_PIPE_SLAVE = 6,
    NR_REG_NULL = 7,
    NR_REG_ONE_SW = 8,
};

#define NIOCCTRL _IOWR('i', 151, struct nmreq_header)
#define NIOCTXSYNC _IO('i', 148)
#define NIOCRXSYNC _IO('i', 149)

struct nmreq_port_info_get {
    uint64_t nr_memsize;
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_host_tx_rings;
    uint16_t nr_host_rx_rings;
    uint16_t nr_mem_id;
    uint16_t pad[3];
};

#define NM_BDG_NAME "vale"

struct nmreq_vale_attach {
    struct nmreq_register reg;
    uint32_t port_index;
    uint32_t pad1;
};

struct nmreq_vale_detach {
    uint32_t port_index;
    uint32_t pad1;
};

struct nmreq_vale_list {
    uint16_t nr_bridge_idx;
    uint16_t pad1;
    uint32_t nr_port_idx;
};

struct nmreq_port_hdr {
    uint32_t nr_hdr_len;
    uint32_t pad1;
};

struct nmreq_vale_newif {
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_mem_id;
    uint16_t pad1;
};

struct nmreq_vale_polling {
    uint32_t nr_mode;
#define NETMAP_POLLING_MODE_SINGLE_CPU 1
#define NETMAP_POLLING_MODE_MULTI_CPU 2
    uint32_t nr_first_cpu_id;
    uint32_t nr_num_polling_cpus;
    uint32_t pad1;
};

struct nmreq_pools_info {
    uint64_t nr_memsize;
    uint16_t nr_mem_id;
    uint16_t pad1[3];
    uint64_t nr_if_pool_offset;
    uint32_t nr_if_pool_objtotal;
    uint32_t nr_if_pool_objsize;
    uint64_t nr_ring_pool_offset;
    uint32_t nr_ring_pool_objtotal;
    uint32_t nr_ring_pool_objsize;
    uint64_t nr_buf_pool_offset;
    uint32_t nr_buf_pool_objtotal;
    uint32_t nr_buf_pool_objsize;
};

struct nmreq_sync_kloop_start {
    uint32_t sleep_us;
    uint32_t pad1;
};

struct nm_csb_atok {
    uint32_t head;
    uint32_t cur;
    uint32_t appl_need_kick;
    uint32_t sync_flags;
    uint32_t pad[12];
};

struct nm_csb_ktoa {
    uint32_t hwcur;
    uint32_t hwtail;
    uint32_t kern_need_kick;
    uint32_t pad[13];
};

struct nmreq_opt_sync_kloop_eventfds {
    struct nmreq_option nro_opt;
    struct {
        int32_t ioeventfd;
        int32_t irqfd;
    } eventfds[];
};

struct nmreq_opt_sync_kloop_mode {
    struct nmreq_option nro_opt;
#define NM_OPT_SYNC_KLOOP_DIRECT_TX (1 << 0)
#define NM_OPT_SYNC_KLOOP_DIRECT_RX (1 << 1)
    uint32_t mode;
};

struct nmreq_opt_extmem {
    struct nmreq_option nro_opt;
    uint64_t nro_usrptr;
    struct nmreq_pools_info nro_info;
};

struct nmreq_opt_csb {
    struct nmreq_option nro_opt;
    uint64_t csb_atok;
    uint64_t csb_ktoa;
};

struct nmreq_opt_offsets {
    struct nmreq_option nro_opt;
    uint64_t nro_max_offset;
    uint64_t nro_initial_offset;
    uint32_t nro_offset_bits;
    uint32_t nro_tx_align;
    uint64_t nro_min_gap;
};

/* The legacy control interface (NIOCGINFO, NIOCREGIF). */
struct nmreq {
    char nr_name[IFNAMSIZ];
    uint32_t nr_version;
    uint32_t nr_offset;
    uint32_t nr_memsize;
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_ringid;
#define NETMAP_HW_RING 0x4000
#define NETMAP_SW_RING 0x2000
#define NETMAP_RING_MASK 0x0fff
#define NETMAP_NO_TX_POLL 0x1000
#define NETMAP_DO_RX_POLL 0x8000
    uint16_t nr_cmd;
#define NETMAP_BDG_ATTACH 1
#define NETMAP_BDG_DETACH 2
#define NETMAP_BDG_REGOPS 3
#define NETMAP_BDG_LIST 4
#define NETMAP_BDG_VNET_HDR 5
#define NETMAP_BDG_NEWIF 6
#define NETMAP_BDG_DELIF 7
#define NETMAP_PT_HOST_CREATE 8
#define NETMAP_PT_HOST_DELETE 9
#define NETMAP_BDG_POLLING_ON 10
#define NETMAP_BDG_POLLING_OFF 11
#define NETMAP_VNET_HDR_GET 12
    uint16_t nr_arg1;
#define NETMAP_BDG_HOST 1
    uint16_t nr_arg2;
    uint32_t nr_arg3;
    uint32_t nr_flags;
#define NR_REG_MASK 0xf
    uint32_t spare2[1];
};

#define NM_IFRDATA_LEN 256
struct nm_ifreq {
    char nifr_name[IFNAMSIZ];
    char data[NM_IFRDATA_LEN];
};

#define NIOCGINFO _IOWR('i', 145, struct nmreq)
#define NIOCREGIF _IOWR('i', 146, struct nmreq)
#define NIOCCONFIG _IOWR('i', 150, struct nm_ifreq)

#ifdef __cplusplus
}
#endif

#endif /* UPIO_NETMAP_H */
