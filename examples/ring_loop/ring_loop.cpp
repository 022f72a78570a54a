// The smallest complete upio program: send 1000 packets through a pipe and
// receive them, with netmap's ring loop.
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <cstdio>
#include <cstring>

int main() {
    auto tx = upio::Port::open("pipe:loop{0");
    auto rx = upio::Port::open("pipe:loop}0");
    if (!tx || !rx) {
        std::fprintf(stderr, "%s\n", (!tx ? tx.error() : rx.error()).message.c_str());
        return 1;
    }
    netmap_ring* t = tx.value()->tx_ring(0);
    netmap_ring* r = rx.value()->rx_ring(0);
    unsigned sent = 0, got = 0;
    while (got < 1000) {
        while (sent < 1000 && !nm_ring_empty(t)) { // fill the tx ring
            netmap_slot* s = &t->slot[t->cur];
            std::snprintf(NETMAP_BUF(t, s->buf_idx), 64, "packet %u", sent++);
            s->len = 60;
            t->head = t->cur = nm_ring_next(t, t->cur);
        }
        tx.value()->txsync();
        if (rx.value()->wait(upio::Direction::rx, std::chrono::seconds(1)) <= 0) return 1;
        while (!nm_ring_empty(r)) { // drain the rx ring
            char want[64];
            std::snprintf(want, sizeof want, "packet %u", got++);
            if (std::strcmp(NETMAP_BUF(r, r->slot[r->cur].buf_idx), want) != 0) return 1;
            r->head = r->cur = nm_ring_next(r, r->cur);
        }
    }
    std::printf("ring_loop: %u packets sent and received in order\n", got);
    return 0;
}
