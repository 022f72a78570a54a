// The process's control thread for shared-memory peers: one epoll loop that
// accepts rendezvous connections, notices a peer process's death (its
// socket hangs up) and relays a peer's wake-up kicks. It sleeps in
// epoll_wait: an idle process spends no CPU on it. Started on first use;
// it lives until the process exits.
//
// Callbacks run on that thread, one at a time, with no lock of the
// reactor held: they may add and remove watches. A watch is identified by
// an id, never by its descriptor number, so a descriptor closed and reused
// meanwhile cannot reach a stale callback. Remove a watch before closing
// its descriptor; a callback that was already picked may still run once
// after remove() returns, so it holds what it touches through a weak_ptr.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>

namespace upio::shm {

class Reactor {
public:
    using Callback = std::function<void(std::uint32_t events)>;
    static Reactor& instance();
    // Watches `fd` for input (and hang-up, errors). 0 on failure.
    std::uint64_t add(int fd, Callback cb);
    void remove(std::uint64_t id);

private:
    Reactor();
    void run();
    struct Impl;
    Impl* impl_;
};

// Watches a connection on which the peer sends nothing more after its
// handshake: bytes that come anyway are read and ignored; its hang-up (end
// of file, an error) removes the watch and calls owner->gone() once. The
// owner keeps the id in its member `watch` and removes it when it goes
// first. Returns the id, 0 on failure.
template <class Owner> std::uint64_t watch_hangup(const std::shared_ptr<Owner>& owner, int fd) {
    std::weak_ptr<Owner> weak = owner;
    return Reactor::instance().add(fd, [weak, fd](std::uint32_t) {
        auto o = weak.lock();
        if (!o) return;
        char junk[64];
        const ssize_t r = ::recv(fd, junk, sizeof junk, MSG_DONTWAIT);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) return;
        Reactor::instance().remove(o->watch);
        o->gone();
    });
}

} // namespace upio::shm
