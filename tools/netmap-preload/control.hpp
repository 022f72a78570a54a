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
    // Shared by the descriptors that registered the same port name in this
    // process (netmap lets several descriptors bind the same rings: tlem
    // registers each interface twice).
    std::shared_ptr<upio::Port> port;
    upio::Port::RegionView region;
    std::uint16_t mem_id = 0;
    bool no_tx_poll = false; // NR_NO_TX_POLL / NETMAP_NO_TX_POLL: poll(POLLIN) does not sync tx
    bool reported = false;   // a failed sync has been reported on stderr once
    // Descriptors naming this registration (dup, dup2, dup3, fcntl
    // F_DUPFD): it ends when the last one is closed. Under the table's lock.
    int refs = 1;
    // Inherited across fork(): the Port (its threads, its link to a peer
    // or a daemon) is the parent's; in the child every request on the
    // descriptor fails (forked_error) and close() forgets it without
    // closing the Port, which would end the parent's link.
    bool forked = false;
    // A failed sync or poll: says why on stderr, once per descriptor.
    void report(int rc, const char* what) noexcept;
};

// Takes `fd` (a fresh descriptor) as a netmap descriptor; false if the
// table has no room for its number.
bool adopt(int fd);
// The netmap descriptor `fd`, or nullptr: no lock, as the syncs need.
NetmapFd* lookup(int fd) noexcept;
// Closes the Port behind `fd` and forgets it (the Port closes with the
// last descriptor that names it).
void release(int fd);
// `newfd` (a fresh copy of `oldfd` the C library made) names the same
// registration as `oldfd`; false if oldfd is not a netmap descriptor.
bool share(int oldfd, int newfd);
// The errno of every request on a descriptor inherited across fork, and
// its line on stderr (once per descriptor).
int forked_error(NetmapFd& e, const char* what) noexcept;
// ioctl(fd, req, arg) on a netmap descriptor: NIOCCTRL, NIOCREGIF, NIOCGINFO.
int control(int fd, NetmapFd& e, unsigned long req, void* arg);
// mmap on a netmap descriptor: the registered Port's region.
void* map_region(NetmapFd& e, void* addr, std::size_t len, int flags, off_t off);
// Whether `addr` lies in a region a netmap descriptor mapped.
bool is_mapped_region(const void* addr) noexcept;

// Arms `e`'s Port for `d` before a sleep (poll, select, epoll): true when
// the sleep must not wait (a ring of `d` is ready, or a sync failed with an
// error to report). A pipe whose other end is gone (ENOTCONN) is quiet, not
// ready, as in netmap: nothing arrives, the poll times out.
bool arm_for_sleep(NetmapFd& e, upio::Direction d) noexcept;

// epoll (epoll.cpp): `fd`, a netmap descriptor about to be closed, leaves
// every epoll set it is in; `fd` being an epoll set, it is forgotten.
void epoll_forget(int fd) noexcept;

} // namespace upio_netmap
