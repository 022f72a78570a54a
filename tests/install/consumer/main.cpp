#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/version.hpp>

#include <cstdio>
#include <cstring>

int main() {
    // the installed header and the installed library are one version
    if (std::strcmp(upio::version(), UPIO_VERSION_STRING) != 0) {
        std::printf("consumer: header %s, library %s\n", UPIO_VERSION_STRING, upio::version());
        return 1;
    }
    auto a = upio::Port::open("pipe:consumer{0");
    auto b = upio::Port::open("pipe:consumer}0");
    if (!a || !b) return 1;
    netmap_ring* t = a.value()->tx_ring(0);
    t->slot[t->cur].len = 60;
    t->head = t->cur = nm_ring_next(t, t->cur);
    a.value()->txsync();
    b.value()->rxsync();
    std::printf("consumer: %u packet received\n", nm_ring_space(b.value()->rx_ring(0)));
    return nm_ring_space(b.value()->rx_ring(0)) == 1 ? 0 : 1;
}
