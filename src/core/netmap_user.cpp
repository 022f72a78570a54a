// netmap_user.h: netmap's nm_* calls on top of upio::Port.
#include <upio/backend/memory_region.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

// fd -> Port, for nm_ioctl and nm_poll (no lock on the data path).
constexpr int max_fds = 1 << 16;
std::array<std::atomic<upio::Port*>, max_fds> fd_table;
thread_local char last_error[256];

upio::Port* port_of(int fd) {
    return fd >= 0 && fd < max_fds ? fd_table[std::size_t(fd)].load(std::memory_order_acquire) : nullptr;
}

} // namespace

extern "C" {

const char* nm_last_error(void) { return last_error; }

struct nm_desc* nm_open(const char* ifname, const struct nmreq* req, uint64_t, const struct nm_desc*) {
    if (!ifname || req) {
        std::snprintf(last_error, sizeof last_error, "nm_open: a port name is required and req must be NULL");
        errno = EINVAL;
        return nullptr;
    }
    auto p = upio::Port::open(ifname);
    if (!p) {
        std::snprintf(last_error, sizeof last_error, "%s", p.error().message.c_str());
        errno = p.error().code;
        return nullptr;
    }
    auto* d = new nm_desc{};
    upio::Port* port = p.value().release();
    d->self = d;
    d->fd = port->fd();
    d->nifp = port->nifp();
    d->mem = port->memory().base();
    d->memsize = port->memory().size();
    using upio::Direction;
    auto range = [&](Direction dir, uint16_t& first, uint16_t& last) {
        first = uint16_t(port->first_ring(dir));
        last = uint16_t(port->last_ring(dir) ? port->last_ring(dir) - 1 : 0);
    };
    range(Direction::tx, d->first_tx_ring, d->last_tx_ring);
    range(Direction::rx, d->first_rx_ring, d->last_rx_ring);
    d->cur_tx_ring = d->first_tx_ring;
    d->cur_rx_ring = d->first_rx_ring;
    d->port = port;
    if (d->fd < max_fds) fd_table[std::size_t(d->fd)].store(port, std::memory_order_release);
    return d;
}

int nm_close(struct nm_desc* d) {
    if (!d || d->self != d) {
        errno = EINVAL;
        return -1;
    }
    if (d->fd >= 0 && d->fd < max_fds) fd_table[std::size_t(d->fd)].store(nullptr);
    delete static_cast<upio::Port*>(d->port);
    d->self = nullptr;
    delete d;
    return 0;
}

int nm_ioctl(int fd, unsigned long req) {
    upio::Port* p = port_of(fd);
    if (!p) {
        errno = EBADF;
        return -1;
    }
    int rc = req == NIOCTXSYNC ? p->txsync() : req == NIOCRXSYNC ? p->rxsync() : -ENOTTY;
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

int nm_ctrl(int fd, unsigned reqtype, void* body) {
    upio::Port* p = port_of(fd);
    if (!p) {
        errno = EBADF;
        return -1;
    }
    auto* h = static_cast<nmreq_port_hdr*>(body);
    if (!h || (reqtype != NETMAP_REQ_PORT_HDR_SET && reqtype != NETMAP_REQ_PORT_HDR_GET)) {
        errno = EINVAL;
        return -1;
    }
    if (reqtype == NETMAP_REQ_PORT_HDR_GET) {
        h->nr_hdr_len = p->vnet_hdr_len();
        return 0;
    }
    if (upio::Status s = p->set_vnet_hdr_len(h->nr_hdr_len); !s) {
        std::snprintf(last_error, sizeof last_error, "%s", s.error().message.c_str());
        errno = s.error().code;
        return -1;
    }
    return 0;
}

int nm_inject(struct nm_desc* d, const void* buf, size_t size) {
    auto* port = static_cast<upio::Port*>(d->port);
    for (uint32_t n = d->first_tx_ring; n <= d->last_tx_ring && port->last_ring(upio::Direction::tx); n++) {
        uint32_t ri = d->cur_tx_ring;
        netmap_ring* r = NETMAP_TXRING(d->nifp, ri);
        if (++d->cur_tx_ring > d->last_tx_ring) d->cur_tx_ring = d->first_tx_ring;
        if (nm_ring_empty(r) || size > r->nr_buf_size) continue;
        uint32_t i = r->cur;
        std::memcpy(NETMAP_BUF(r, r->slot[i].buf_idx), buf, size);
        r->slot[i].len = uint16_t(size);
        r->head = r->cur = nm_ring_next(r, i);
        return int(size);
    }
    return 0;
}

uint8_t* nm_nextpkt(struct nm_desc* d, struct nm_pkthdr* hdr) {
    auto* port = static_cast<upio::Port*>(d->port);
    for (uint32_t n = d->first_rx_ring; n <= d->last_rx_ring && port->last_ring(upio::Direction::rx); n++) {
        netmap_ring* r = NETMAP_RXRING(d->nifp, d->cur_rx_ring);
        if (nm_ring_empty(r)) {
            if (++d->cur_rx_ring > d->last_rx_ring) d->cur_rx_ring = d->first_rx_ring;
            continue;
        }
        uint32_t i = r->cur;
        uint8_t* buf = reinterpret_cast<uint8_t*>(NETMAP_BUF(r, r->slot[i].buf_idx));
        hdr->ts = r->ts;
        hdr->len = hdr->caplen = r->slot[i].len;
        hdr->slot = &r->slot[i];
        hdr->buf = buf;
        hdr->d = d;
        r->head = r->cur = nm_ring_next(r, i);
        return buf;
    }
    return nullptr;
}

int nm_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
    using upio::Direction;
    bool ready_now = false;
    for (nfds_t i = 0; i < nfds; i++) {
        upio::Port* p = port_of(fds[i].fd);
        if (!p) continue;
        if ((fds[i].events & POLLOUT) && !p->arm(Direction::tx)) ready_now = true;
        if ((fds[i].events & POLLIN) && !p->arm(Direction::rx)) ready_now = true;
    }
    short small[64];
    std::vector<short> big(nfds > 64 ? nfds : 0);
    short* want = nfds > 64 ? big.data() : small;
    for (nfds_t i = 0; i < nfds; i++) {
        want[i] = fds[i].events;
        if (port_of(fds[i].fd)) fds[i].events = POLLIN; // the port fd signals by becoming readable
    }
    int n = ::poll(fds, nfds, ready_now ? 0 : timeout_ms);
    int saved = errno;
    int count = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        upio::Port* p = port_of(fds[i].fd);
        fds[i].events = want[i];
        if (!p) {
            if (fds[i].revents) count++;
            continue;
        }
        short rev = 0;
        if (want[i] & POLLOUT) {
            p->disarm(Direction::tx);
            p->txsync();
            for (uint32_t r = p->first_ring(Direction::tx); r < p->last_ring(Direction::tx); r++)
                if (!nm_ring_empty(p->tx_ring(r))) rev |= POLLOUT;
        }
        if (want[i] & POLLIN) {
            p->disarm(Direction::rx);
            p->rxsync();
            for (uint32_t r = p->first_ring(Direction::rx); r < p->last_ring(Direction::rx); r++)
                if (!nm_ring_empty(p->rx_ring(r))) rev |= POLLIN;
        }
        fds[i].revents = rev;
        if (rev) count++;
    }
    if (n < 0 && count == 0) {
        errno = saved;
        return -1;
    }
    return count;
}

} // extern "C"
