// The netmap descriptors of the process and their control requests.
#pragma once

#include <upio/netmap.h>
#include <upio/port.hpp>

#include <cstddef>
#include <memory>
#include <sys/types.h>

namespace upio_netmap {

// What open("/dev/netmap") made; a Port once registered.
struct NetmapFd {
    std::unique_ptr<upio::Port> port;
    upio::Port::RegionView region;
    std::uint16_t mem_id = 0;
    bool no_tx_poll = false; // NR_NO_TX_POLL / NETMAP_NO_TX_POLL: poll(POLLIN) does not sync tx
    bool reported = false;   // a failed sync has been reported on stderr once
    // A failed sync or poll: says why on stderr, once per descriptor.
    void report(int rc, const char* what) noexcept;
};

// Takes `fd` (a fresh descriptor) as a netmap descriptor; false if the
// table has no room for its number.
bool adopt(int fd);
// The netmap descriptor `fd`, or nullptr: no lock, as the syncs need.
NetmapFd* lookup(int fd) noexcept;
// Closes the Port behind `fd` and forgets it.
void release(int fd);
// ioctl(fd, req, arg) on a netmap descriptor: NIOCCTRL, NIOCREGIF, NIOCGINFO.
int control(int fd, NetmapFd& e, unsigned long req, void* arg);
// mmap on a netmap descriptor: the registered Port's region.
void* map_region(NetmapFd& e, void* addr, std::size_t len, int flags, off_t off);
// Whether `addr` lies in a region a netmap descriptor mapped.
bool is_mapped_region(const void* addr) noexcept;

} // namespace upio_netmap
