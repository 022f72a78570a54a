// The control thread (see reactor.hpp).
#include "shm/reactor.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <thread>

namespace upio::shm {

struct Reactor::Impl {
    int ep = -1;
    std::mutex mu; // guards watches and next
    std::map<std::uint64_t, std::pair<int, Callback>> watches;
    std::uint64_t next = 1;
};

Reactor& Reactor::instance() {
    // Never destroyed: its thread may be inside epoll_wait at exit.
    static Reactor* r = new Reactor();
    return *r;
}

Reactor::Reactor() : impl_(new Impl) {
    impl_->ep = epoll_create1(EPOLL_CLOEXEC);
    std::thread([this] { run(); }).detach();
}

std::uint64_t Reactor::add(int fd, Callback cb) {
    std::lock_guard lk(impl_->mu);
    const std::uint64_t id = impl_->next++;
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP;
    e.data.u64 = id;
    if (epoll_ctl(impl_->ep, EPOLL_CTL_ADD, fd, &e) != 0) return 0;
    impl_->watches[id] = {fd, std::move(cb)};
    return id;
}

void Reactor::remove(std::uint64_t id) {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->watches.find(id);
    if (it == impl_->watches.end()) return;
    epoll_ctl(impl_->ep, EPOLL_CTL_DEL, it->second.first, nullptr);
    impl_->watches.erase(it);
}

void Reactor::run() {
    epoll_event evs[16];
    for (;;) {
        const int n = epoll_wait(impl_->ep, evs, 16, -1);
        if (n < 0 && errno != EINTR) return;
        for (int i = 0; i < n; i++) {
            Callback cb;
            {
                std::lock_guard lk(impl_->mu);
                auto it = impl_->watches.find(evs[i].data.u64);
                if (it == impl_->watches.end()) continue; // removed meanwhile
                cb = it->second.second;
            }
            cb(evs[i].events);
        }
    }
}

} // namespace upio::shm
