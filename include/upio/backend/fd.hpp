// upio/backend/fd.hpp -- an owned file descriptor, for port types (sockets,
// eventfds, memfds): move-only, closed on destruction.
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/fd.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <unistd.h>

#include <utility>

namespace upio {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    // Gives the descriptor up without closing it.
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

} // namespace upio
