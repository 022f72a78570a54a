/* A netmap program's ring loops, written in C against netmap_user.h: they
 * compile unchanged. compat_test.cpp runs them. */
#include <upio/netmap_user.h>

#include <string.h>

/* transmit up to `n` copies of `frame` on every tx ring, netmap style */
int compat_send(struct nm_desc *d, const char *frame, unsigned len, int n) {
    int sent = 0;
    for (int ri = d->first_tx_ring; ri <= d->last_tx_ring && sent < n; ri++) {
        struct netmap_ring *ring = NETMAP_TXRING(d->nifp, ri);
        while (!nm_ring_empty(ring) && sent < n) {
            uint32_t i = ring->cur;
            struct netmap_slot *slot = &ring->slot[i];
            char *buf = NETMAP_BUF(ring, slot->buf_idx);
            memcpy(buf, frame, len);
            slot->len = (uint16_t)len;
            ring->head = ring->cur = nm_ring_next(ring, i);
            sent++;
        }
    }
    nm_ioctl(d->fd, NIOCTXSYNC);
    return sent;
}

/* receive everything available; returns packets, adds their bytes to *bytes */
int compat_receive(struct nm_desc *d, unsigned long *bytes) {
    int got = 0;
    struct pollfd pfd = {.fd = d->fd, .events = POLLIN};
    if (nm_poll(&pfd, 1, 1000) <= 0) return 0;
    for (int ri = d->first_rx_ring; ri <= d->last_rx_ring; ri++) {
        struct netmap_ring *ring = NETMAP_RXRING(d->nifp, ri);
        while (!nm_ring_empty(ring)) {
            uint32_t i = ring->cur;
            *bytes += ring->slot[i].len;
            ring->head = ring->cur = nm_ring_next(ring, i);
            got++;
        }
    }
    return got;
}
