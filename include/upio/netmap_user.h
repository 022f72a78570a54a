/*
 * upio/netmap_user.h -- source compatibility with netmap programs.
 *
 * The ring loop of a netmap program compiles unchanged against this header:
 * NETMAP_TXRING/NETMAP_RXRING/NETMAP_BUF, nm_ring_next, nm_ring_space,
 * nm_ring_empty, nm_tx_pending, and nm_open/nm_close/nm_inject/nm_nextpkt
 * with netmap's struct nm_desc. Port names are upio's ("pipe:x{0",
 * "vale0:a", "e1000:0000:01:00.0"; a leading "netmap:" is not understood).
 *
 * Two calls differ because upio lives in the process, not the kernel:
 *   ioctl(fd, NIOCTXSYNC, NULL)  ->  nm_ioctl(fd, NIOCTXSYNC)
 *   poll(fds, n, timeout)        ->  nm_poll(fds, n, timeout)
 * nm_poll accepts any mix of upio and ordinary descriptors and behaves like
 * netmap's poll(): POLLIN syncs the rx rings, POLLOUT the tx rings, and it
 * sleeps until one of them has room or data.
 */
#ifndef UPIO_NETMAP_USER_H
#define UPIO_NETMAP_USER_H

#include <upio/netmap.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define _NETMAP_OFFSET(type, ptr, offset) ((type)(void *)((char *)(ptr) + (offset)))
#define NETMAP_IF(_base, _ofs) _NETMAP_OFFSET(struct netmap_if *, _base, _ofs)
#define NETMAP_TXRING(nifp, index) _NETMAP_OFFSET(struct netmap_ring *, nifp, (nifp)->ring_ofs[index])
#define NETMAP_RXRING(nifp, index)                                                                                  \
    _NETMAP_OFFSET(struct netmap_ring *, nifp, (nifp)->ring_ofs[(index) + (nifp)->ni_tx_rings + (nifp)->ni_host_tx_rings])
#define NETMAP_BUF(ring, index) ((char *)(ring) + (ring)->buf_ofs + ((size_t)(index) * (ring)->nr_buf_size))
#define NETMAP_BUF_IDX(ring, buf) ((uint32_t)(((char *)(buf) - ((char *)(ring) + (ring)->buf_ofs)) / (ring)->nr_buf_size))

static inline uint32_t nm_ring_next(struct netmap_ring *r, uint32_t i) {
    return __builtin_expect(i + 1 == r->num_slots, 0) ? 0 : i + 1;
}

/* tx: slots handed to the port whose transmission has not completed */
static inline int nm_tx_pending(struct netmap_ring *r) { return nm_ring_next(r, r->tail) != r->head; }

/* slots available to the application from cur to tail */
static inline uint32_t nm_ring_space(struct netmap_ring *ring) {
    int ret = (int)ring->tail - (int)ring->cur;
    if (ret < 0) ret += (int)ring->num_slots;
    return (uint32_t)ret;
}

static inline int nm_ring_empty(struct netmap_ring *ring) { return ring->cur == ring->tail; }

/* nm_open's req: only NULL is accepted. NIOCTXSYNC/NIOCRXSYNC: netmap.h. */

struct nm_pkthdr {
    struct timeval ts;
    uint32_t caplen;
    uint32_t len;
    uint64_t flags;
    struct nm_desc *d;
    struct netmap_slot *slot;
    uint8_t *buf;
};

struct nm_desc {
    struct nm_desc *self;
    int fd;
    void *mem;
    uint64_t memsize;
    int done_mmap;
    struct netmap_if *nifp;
    uint16_t first_tx_ring, last_tx_ring, cur_tx_ring; /* last is inclusive, as in netmap */
    uint16_t first_rx_ring, last_rx_ring, cur_rx_ring;
    struct nm_pkthdr hdr;
    void *port; /* the upio::Port behind this descriptor */
    char errmsg[256];
};

#define NETMAP_FD(d) (((struct nm_desc *)(d))->fd)

/* Opens a port; NULL with errno set on failure (nm_last_error() says why). */
struct nm_desc *nm_open(const char *ifname, const struct nmreq *req, uint64_t flags, const struct nm_desc *arg);
int nm_close(struct nm_desc *d);
/* Copies one packet into the next free tx slot; returns size or 0 when full. */
int nm_inject(struct nm_desc *d, const void *buf, size_t size);
/* Returns the next received packet (and fills *hdr), NULL when none. */
uint8_t *nm_nextpkt(struct nm_desc *d, struct nm_pkthdr *hdr);
/* NIOCTXSYNC / NIOCRXSYNC on a port's fd; 0 or -1 with errno. */
int nm_ioctl(int fd, unsigned long req);
int nm_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* netmap's ioctl(fd, NIOCCTRL, hdr) with hdr->nr_reqtype = reqtype and
 * hdr->nr_body = body: NETMAP_REQ_PORT_HDR_SET / _GET with a struct
 * nmreq_port_hdr. 0 or -1 with errno (EOPNOTSUPP: the port type carries no
 * header; EINVAL: not a header length). */
int nm_ctrl(int fd, unsigned reqtype, void *body);
/* Why the last nm_open failed in this thread. */
const char *nm_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* UPIO_NETMAP_USER_H */
