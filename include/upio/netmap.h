/*
 * upio/netmap.h -- the shared ring layout, netmap-compatible.
 *
 * This header is valid C and C++. It declares the three structures a netmap
 * program works with, with netmap's field names and meanings:
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
 * Every sync validates head, cur and the returned slots first (the
 * "prologue"); a ring that fails is left untouched and the sync reports an
 * error until the application repairs the ring.
 */
#ifndef UPIO_NETMAP_H
#define UPIO_NETMAP_H

#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NM_CACHE_ALIGN 128
#define NM_IFNAMSIZ 64

/* A slot: one packet buffer, or one fragment of a multi-slot packet. */
struct netmap_slot {
    uint32_t buf_idx; /* (u/k) index of the buffer in the region */
    uint16_t len;     /* (u/k) bytes of the packet in this buffer */
    uint16_t flags;   /* (u/k) NS_* below */
    uint64_t ptr;     /* (u) free for the application (netmap: indirect ptr) */
};

/* buf_idx changed: a driver must reload its DMA address for this slot. */
#define NS_BUF_CHANGED 0x0001
/* ask for a completion report (an interrupt on NIC ports) for this slot. */
#define NS_REPORT 0x0002
/* VALE: do not learn the source MAC of this packet. */
#define NS_NO_LEARN 0x0008
/* more fragments follow in the next slot; the last one has this clear.
 * A tx sync that would leave the ring full of one unfinished chain is
 * refused: with no free slot, its end could never be queued. */
#define NS_MOREFRAG 0x0020

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

    uint32_t flags;   /* (u) NR_* below */
    struct timeval ts; /* (k) time of the last sync (with NR_TIMESTAMP) */

    /* opaque space for the framework; keeps slots on their own lines */
    uint8_t sem[128] __attribute__((__aligned__(NM_CACHE_ALIGN)));

    struct netmap_slot slot[]; /* num_slots entries */
};

#define NR_TX 0
#define NR_RX 1
/* ask the framework to set ring->ts on every sync */
#define NR_TIMESTAMP 0x0002

/* The port's descriptor: name, ring counts and the offsets of its rings. */
struct netmap_if {
    char ni_name[NM_IFNAMSIZ]; /* (c) the port's name as opened */
    uint32_t ni_version;       /* (c) NETMAP_API */
    uint32_t ni_flags;         /* (c) reserved */
    uint32_t ni_tx_rings;      /* (c) number of tx rings */
    uint32_t ni_rx_rings;      /* (c) number of rx rings */
    uint32_t ni_bufs_head;     /* (u) first extra buffer; each one's first
                                  4 bytes hold the next index, 0 ends */
    uint32_t ni_host_tx_rings; /* (c) host rings: always 0 in upio */
    uint32_t ni_host_rx_rings; /* (c) */
    uint32_t ni_spare1[3];
    ssize_t ring_ofs[]; /* (c) tx rings first, then rx rings */
};

#define NETMAP_API 14

#ifdef __cplusplus
}
#endif

#endif /* UPIO_NETMAP_H */
