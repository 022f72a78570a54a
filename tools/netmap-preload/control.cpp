// The netmap descriptors of the process and their control requests
// (NIOCCTRL and the legacy NIOCREGIF/NIOCGINFO), on upio's public API.
#include "control.hpp"

#include "names.hpp"
#include "vale_ctl.hpp"

#include <upio/vale.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace upio_netmap {

namespace {

constexpr int max_fds = 1 << 16;
std::array<std::atomic<NetmapFd*>, max_fds> fd_table; // written under control_mu, read without

// Lock order: control_mu, then regions_mu.
std::mutex control_mu;
std::vector<int> open_fds;                      // the numbers in fd_table, for lookups by name
std::map<std::uintptr_t, std::uint16_t> mem_ids; // region id -> netmap's nr_mem_id

struct Mapped {
    const char* base;
    std::size_t size;
    int refs; // registered descriptors on this region
};
std::mutex regions_mu;
std::vector<Mapped> regions;
std::atomic<int> nregions{0};

void add_region(const upio::Port::RegionView& r) {
    std::lock_guard lk(regions_mu);
    for (Mapped& m : regions)
        if (m.base == r.base) {
            m.refs++;
            return;
        }
    regions.push_back({static_cast<const char*>(r.base), r.size, 1});
    nregions.store(int(regions.size()), std::memory_order_release);
}

void drop_region(const upio::Port::RegionView& r) {
    std::lock_guard lk(regions_mu);
    for (auto it = regions.begin(); it != regions.end(); ++it)
        if (it->base == r.base && --it->refs == 0) {
            regions.erase(it);
            break;
        }
    nregions.store(int(regions.size()), std::memory_order_release);
}

std::uint16_t mem_id_of(std::uintptr_t region) {
    auto [it, fresh] = mem_ids.try_emplace(region, std::uint16_t(0));
    if (fresh) it->second = std::uint16_t(mem_ids.size()); // from 1, as netmap's allocators
    return it->second;
}

const char* reqtype_name(unsigned t) {
    static const char* const names[] = {"?",
                                        "REGISTER",
                                        "PORT_INFO_GET",
                                        "VALE_ATTACH",
                                        "VALE_DETACH",
                                        "VALE_LIST",
                                        "PORT_HDR_SET",
                                        "PORT_HDR_GET",
                                        "VALE_NEWIF",
                                        "VALE_DELIF",
                                        "VALE_POLLING_ENABLE",
                                        "VALE_POLLING_DISABLE",
                                        "POOLS_INFO_GET",
                                        "SYNC_KLOOP_START",
                                        "SYNC_KLOOP_STOP",
                                        "CSB_ENABLE"};
    return t < std::size(names) ? names[t] : "unknown";
}

// What PORT_INFO_GET, POOLS_INFO_GET and the register replies tell of a Port.
struct Info {
    std::uint64_t memsize = 0;
    std::uint32_t tx_slots = 0, rx_slots = 0;
    std::uint16_t tx_rings = 0, rx_rings = 0;
    std::uint16_t mem_id = 0;
    std::uint32_t hdr_len = 0; // virtio-net header (PORT_HDR_GET)
    upio::Port::RegionView region;
};

Info info_of(const upio::Port& p) {
    Info i;
    i.region = p.region();
    i.memsize = i.region.size;
    i.tx_rings = std::uint16_t(p.nifp()->ni_tx_rings);
    i.rx_rings = std::uint16_t(p.nifp()->ni_rx_rings);
    if (i.tx_rings) i.tx_slots = p.tx_ring(0)->num_slots;
    if (i.rx_rings) i.rx_slots = p.rx_ring(0)->num_slots;
    i.mem_id = mem_id_of(i.region.id);
    i.hdr_len = p.vnet_hdr_len();
    return i;
}

// The Port a descriptor of this process registered as `name` (translated),
// or nullptr.
upio::Port* registered_port(const std::string& name) {
    for (int fd : open_fds) {
        NetmapFd* o = fd_table[std::size_t(fd)].load(std::memory_order_relaxed);
        if (o && o->port && o->port->name().full.substr(0, o->port->name().full.find(',')) == name)
            return o->port.get();
    }
    return nullptr;
}

// The Port named `nr_name`: the one a descriptor of this process has
// registered, else one opened for the question and closed after it (a
// port's rings can be open in one Port only). With an empty name, the
// descriptor's own.
Result port_info(NetmapFd& e, const char* nr_name, Info& out) {
    if (!*nr_name) {
        if (!e.port) return {EINVAL, "no port name, and the descriptor has no registered port"};
        out = info_of(*e.port);
        return {};
    }
    std::string name;
    if (Result r = translate_name(nr_name, name); !r) return r;
    if (upio::Port* o = registered_port(name)) {
        out = info_of(*o);
        return {};
    }
    auto p = upio::Port::open(name);
    if (!p) return {p.error().code ? p.error().code : ENXIO, p.error().message};
    out = info_of(*p.value());
    return {};
}

Result do_register(int /*fd: every descriptor naming e*/, NetmapFd& e, const char* nr_name, nmreq_register& reg) {
    if (e.port) return {EBUSY, "the descriptor already has a registered port"};
    std::string name;
    if (Result r = translate_name(nr_name, name); !r) return r;
    bool one_ring = false;
    if (Result r = register_suffix(reg, name, one_ring); !r) return r;
    upio::PortOptions opts;
    if (reg.nr_tx_slots) opts.tx_slots = reg.nr_tx_slots;
    if (reg.nr_rx_slots) opts.rx_slots = reg.nr_rx_slots;
    if (reg.nr_tx_rings || reg.nr_rx_rings) opts.rings = std::max(reg.nr_tx_rings, reg.nr_rx_rings);
    opts.extra_bufs = reg.nr_extra_bufs;
    std::shared_ptr<upio::Port> port;
    auto p = upio::Port::open(name, opts);
    if (p) {
        port = std::move(p.value());
    } else {
        // Its rings are open already: in a Port of this process registered
        // under the same name, the registrations share it, as netmap's
        // descriptors share the rings they bind.
        if (p.error().code == EBUSY)
            for (int other : open_fds) {
                NetmapFd* o = fd_table[std::size_t(other)].load(std::memory_order_relaxed);
                if (o && o != &e && o->port && !o->forked && o->port->name().full == name) {
                    port = o->port;
                    break;
                }
            }
        if (!port) return {p.error().code ? p.error().code : ENXIO, p.error().message};
    }
    Info i = info_of(*port);
    // nr_mem_id asks for the port in another port's memory (lb's zero-copy
    // pipes, "@ID" in libnetmap's names): upio's ports have regions of their
    // own, shared only by a pipe's two ends in one process.
    if (reg.nr_mem_id && reg.nr_mem_id != i.mem_id)
        return {EINVAL, fmt::format("memory allocator {} (nr_mem_id): {} has a region of its own (allocator {}); "
                                    "upio cannot put one port in another's memory",
                                    reg.nr_mem_id, name, i.mem_id)};

    // From here on the descriptor is the Port's wait descriptor, so the
    // program's own poll/select/epoll sets name the right file.
    // Every copy of it (dup) too: they are one open file, as in netmap. The
    // system call itself: the library's dup3 is the preload's.
    for (int other : open_fds) {
        if (fd_table[std::size_t(other)].load(std::memory_order_relaxed) != &e) continue;
        int fdflags = fcntl(other, F_GETFD);
        if (fdflags < 0 || syscall(SYS_dup3, port->fd(), other, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
            return {errno, fmt::format("cannot make the descriptor the port's: {}", std::strerror(errno))};
    }

    reg.nr_offset = std::uint64_t(reinterpret_cast<char*>(port->nifp()) - static_cast<char*>(i.region.base));
    reg.nr_memsize = i.memsize;
    reg.nr_tx_slots = i.tx_slots;
    reg.nr_rx_slots = i.rx_slots;
    reg.nr_tx_rings = i.tx_rings;
    reg.nr_rx_rings = i.rx_rings;
    reg.nr_host_tx_rings = reg.nr_host_rx_rings = 0;
    reg.nr_mem_id = i.mem_id;
    e.region = i.region;
    e.mem_id = i.mem_id;
    e.no_tx_poll = (reg.nr_flags & NR_NO_TX_POLL) != 0;
    add_region(i.region);
    e.port = std::move(port);
    return {};
}

Result not_supported(const char* what) {
    return {EOPNOTSUPP, fmt::format("{} is not supported: upio's VALE switches have no kernel threads", what)};
}

Result ctrl(int fd, NetmapFd& e, nmreq_header& h) {
    if (h.nr_version < NETMAP_MIN_API || h.nr_version > NETMAP_MAX_API)
        return {EINVAL, fmt::format("API version {}; this library speaks {}..{}", h.nr_version, NETMAP_MIN_API,
                                    NETMAP_MAX_API)};
    if (!std::memchr(h.nr_name, 0, sizeof h.nr_name)) return {EINVAL, "nr_name is not terminated"};
    // Options: upio takes none of netmap's (extmem, offsets, CSB, kloop).
    std::uint64_t o = h.nr_options;
    for (int n = 0; o && n < 32; n++) {
        auto* opt = reinterpret_cast<nmreq_option*>(o);
        opt->nro_status = EOPNOTSUPP;
        const unsigned t = opt->nro_reqtype;
        static const char* const opt_names[] = {"?", "EXTMEM", "SYNC_KLOOP_EVENTFDS", "CSB", "SYNC_KLOOP_MODE",
                                                "OFFSETS"};
        return {EOPNOTSUPP, fmt::format("option {} is not supported", t < std::size(opt_names) ? opt_names[t] : "?")};
    }
    void* body = reinterpret_cast<void*>(h.nr_body);
    // vale-ctl sends VALE_DELIF without a body, NEWIF's body is optional
    const bool bodiless = h.nr_reqtype == NETMAP_REQ_SYNC_KLOOP_STOP || h.nr_reqtype == NETMAP_REQ_CSB_ENABLE ||
                          h.nr_reqtype == NETMAP_REQ_VALE_DELIF || h.nr_reqtype == NETMAP_REQ_VALE_NEWIF;
    if (!body && !bodiless) return {EINVAL, "no request body (nr_body)"};
    switch (h.nr_reqtype) {
    case NETMAP_REQ_REGISTER:
        return do_register(fd, e, h.nr_name, *static_cast<nmreq_register*>(body));
    case NETMAP_REQ_PORT_INFO_GET: {
        Info i;
        if (Result r = port_info(e, h.nr_name, i); !r) return r;
        auto* b = static_cast<nmreq_port_info_get*>(body);
        b->nr_memsize = i.memsize;
        b->nr_tx_slots = i.tx_slots;
        b->nr_rx_slots = i.rx_slots;
        b->nr_tx_rings = i.tx_rings;
        b->nr_rx_rings = i.rx_rings;
        b->nr_host_tx_rings = b->nr_host_rx_rings = 0;
        b->nr_mem_id = i.mem_id;
        return {};
    }
    case NETMAP_REQ_POOLS_INFO_GET: {
        Info i;
        if (Result r = port_info(e, h.nr_name, i); !r) return r;
        // upio keeps every netmap_if and ring in one objects area before the
        // buffers: both "pools" below are that area.
        auto* b = static_cast<nmreq_pools_info*>(body);
        const upio::Port::RegionView& r = i.region;
        b->nr_memsize = r.size;
        b->nr_mem_id = i.mem_id;
        b->nr_if_pool_offset = 0;
        b->nr_if_pool_objtotal = 1;
        b->nr_if_pool_objsize = std::uint32_t(r.bufs_offset);
        b->nr_ring_pool_offset = 0;
        b->nr_ring_pool_objtotal = 1;
        b->nr_ring_pool_objsize = std::uint32_t(r.bufs_offset);
        b->nr_buf_pool_offset = r.bufs_offset;
        b->nr_buf_pool_objtotal = r.num_bufs;
        b->nr_buf_pool_objsize = r.buf_size;
        return {};
    }
    case NETMAP_REQ_PORT_HDR_GET: {
        Info i;
        if (Result r = port_info(e, h.nr_name, i); !r) return r;
        static_cast<nmreq_port_hdr*>(body)->nr_hdr_len = i.hdr_len;
        return {};
    }
    case NETMAP_REQ_PORT_HDR_SET: {
        // As netmap: 0, 10 or 12 bytes, else EINVAL; the port type decides
        // whether it carries one (VALE, netif:IF@packet and tap: ports do,
        // others answer EOPNOTSUPP).
        const std::uint32_t len = static_cast<nmreq_port_hdr*>(body)->nr_hdr_len;
        if (len != 0 && len != 10 && len != 12)
            return {EINVAL, fmt::format("a virtio-net header of {} bytes: 0, 10 or 12 only", len)};
        upio::Port* p = e.port.get();
        if (*h.nr_name) {
            std::string name;
            if (Result r = translate_name(h.nr_name, name); !r) return r;
            p = registered_port(name);
        }
        if (!p) {
            Info i; // the port exists (else its errno), but nobody here has it open
            if (Result r = port_info(e, h.nr_name, i); !r) return r;
            if (len == 0) return {}; // what a port opened afresh has
            return {ENXIO, fmt::format("a virtio-net header for '{}': register the port first (a upio port "
                                       "exists while a program has it open, and starts without one)",
                                       h.nr_name)};
        }
        if (upio::Status st = p->set_vnet_hdr_len(len); !st)
            return {st.error().code ? st.error().code : EOPNOTSUPP, st.error().message};
        return {};
    }
    case NETMAP_REQ_VALE_LIST:
        return vale_list(h.nr_name, *static_cast<nmreq_vale_list*>(body), h.nr_name);
    case NETMAP_REQ_VALE_ATTACH:
        return vale_attach(h.nr_name, *static_cast<nmreq_vale_attach*>(body));
    case NETMAP_REQ_VALE_DETACH:
        return vale_detach(h.nr_name, *static_cast<nmreq_vale_detach*>(body));
    case NETMAP_REQ_VALE_NEWIF: {
        auto* b = static_cast<nmreq_vale_newif*>(body);
        if (Result r = vale_newif(h.nr_name, b); !r || !b) return r;
        // netmap writes the new port's geometry back into the body. upio's
        // persistent port takes the rings of the program that registers
        // it, so the geometry that counts is what a register gets: one,
        // opened for the question and closed (the port stays, the
        // daemon's again).
        Info i;
        if (Result r = port_info(e, h.nr_name, i); !r) {
            (void)vale_delif(h.nr_name); // all or nothing, as netmap's NEWIF
            return {r.code, fmt::format("registering the new port to learn its geometry failed (so it was removed "
                                        "again): {}",
                                        r.message)};
        }
        b->nr_tx_slots = i.tx_slots;
        b->nr_rx_slots = i.rx_slots;
        b->nr_tx_rings = i.tx_rings;
        b->nr_rx_rings = i.rx_rings;
        b->nr_mem_id = i.mem_id;
        return {};
    }
    case NETMAP_REQ_VALE_DELIF:
        return vale_delif(h.nr_name);
    case NETMAP_REQ_VALE_POLLING_ENABLE:
    case NETMAP_REQ_VALE_POLLING_DISABLE:
        return not_supported("a polling kernel thread (vale-ctl -C/-c)");
    case NETMAP_REQ_SYNC_KLOOP_START:
    case NETMAP_REQ_SYNC_KLOOP_STOP:
    case NETMAP_REQ_CSB_ENABLE:
        return {EOPNOTSUPP, "the in-kernel sync loop and CSB mode are not supported"};
    default:
        return {EINVAL, fmt::format("request type {} is not a netmap request", h.nr_reqtype)};
    }
}

// NIOCREGIF: the legacy register, as a NETMAP_REQ_REGISTER.
Result legacy_register(int fd, NetmapFd& e, nmreq& q) {
    if (q.nr_cmd) return {EOPNOTSUPP, fmt::format("legacy nr_cmd {} (VALE management) is not supported", q.nr_cmd)};
    nmreq_register reg{};
    reg.nr_tx_slots = q.nr_tx_slots;
    reg.nr_rx_slots = q.nr_rx_slots;
    reg.nr_tx_rings = q.nr_tx_rings;
    reg.nr_rx_rings = q.nr_rx_rings;
    reg.nr_extra_bufs = q.nr_arg3;
    reg.nr_mode = q.nr_flags & NR_REG_MASK;
    reg.nr_flags = q.nr_flags & ~std::uint32_t(NR_REG_MASK);
    if (reg.nr_mode == NR_REG_DEFAULT) { // the older form: nr_ringid says it
        reg.nr_mode = (q.nr_ringid & NETMAP_SW_RING)   ? NR_REG_SW
                      : (q.nr_ringid & NETMAP_HW_RING) ? NR_REG_ONE_NIC
                                                       : NR_REG_ALL_NIC;
    }
    reg.nr_ringid = q.nr_ringid & NETMAP_RING_MASK;
    if (q.nr_ringid & NETMAP_NO_TX_POLL) reg.nr_flags |= NR_NO_TX_POLL;
    if (Result r = do_register(fd, e, q.nr_name, reg); !r) return r;
    if (reg.nr_memsize > UINT32_MAX) {
        drop_region(e.region);
        e.port.reset();
        return {ENOMEM, "the region is larger than legacy nr_memsize can say; use NIOCCTRL"};
    }
    q.nr_offset = std::uint32_t(reg.nr_offset);
    q.nr_memsize = std::uint32_t(reg.nr_memsize);
    q.nr_tx_slots = reg.nr_tx_slots;
    q.nr_rx_slots = reg.nr_rx_slots;
    q.nr_tx_rings = reg.nr_tx_rings;
    q.nr_rx_rings = reg.nr_rx_rings;
    q.nr_arg2 = reg.nr_mem_id;
    return {};
}

} // namespace

void NetmapFd::report(int rc, const char* what) noexcept {
    if (reported) return;
    reported = true;
    std::fprintf(stderr, "upio-netmap: %s on %s: %s (%s)\n", what, port ? port->name().full.c_str() : "?",
                 std::strerror(-rc), port ? port->last_error() : "");
}

bool adopt(int fd) {
    if (fd < 0 || fd >= max_fds) return false;
    std::lock_guard lk(control_mu);
    delete fd_table[std::size_t(fd)].exchange(new NetmapFd, std::memory_order_acq_rel);
    open_fds.push_back(fd);
    return true;
}

NetmapFd* lookup(int fd) noexcept {
    if (fd < 0 || fd >= max_fds) return nullptr;
    return fd_table[std::size_t(fd)].load(std::memory_order_acquire);
}

void release(int fd) {
    if (fd < 0 || fd >= max_fds) return;
    std::lock_guard lk(control_mu);
    NetmapFd* e = fd_table[std::size_t(fd)].exchange(nullptr, std::memory_order_acq_rel);
    open_fds.erase(std::remove(open_fds.begin(), open_fds.end(), fd), open_fds.end());
    if (!e || --e->refs > 0) return;
    if (e->port) drop_region(e->region);
    // In a child of fork the Port is the parent's: closing it here would
    // tell its peer (a pipe's other end, the daemon) that it left. Its
    // memory and descriptors stay with the child until exit or exec.
    if (e->forked && e->port) (void)new std::shared_ptr<upio::Port>(std::move(e->port)); // left to the child's exit
    delete e; // closes the Port (and its own copy of the wait descriptor)
}

bool share(int oldfd, int newfd) {
    if (oldfd < 0 || oldfd >= max_fds || newfd < 0 || newfd >= max_fds) return false;
    std::lock_guard lk(control_mu);
    NetmapFd* e = fd_table[std::size_t(oldfd)].load(std::memory_order_relaxed);
    if (!e) return false;
    e->refs++;
    NetmapFd* was = fd_table[std::size_t(newfd)].exchange(e, std::memory_order_acq_rel);
    if (was) { // the caller released it; a race with another thread's dup2 at worst
        if (--was->refs == 0) {
            if (was->port) drop_region(was->region);
            if (was->forked && was->port) (void)new std::shared_ptr<upio::Port>(std::move(was->port));
            delete was;
        }
    } else {
        open_fds.push_back(newfd);
    }
    return true;
}

bool arm_for_sleep(NetmapFd& e, upio::Direction d) noexcept {
    upio::Port& p = *e.port;
    if (p.arm(d)) return false;
    for (std::uint32_t r = p.first_ring(d); r < p.last_ring(d); r++) {
        const netmap_ring* ring = d == upio::Direction::tx ? p.tx_ring(r) : p.rx_ring(r);
        if (ring->cur != ring->tail) return true;
    }
    // not ready: the sync failed; an error to report unless the link is down
    int rc = d == upio::Direction::tx ? p.txsync() : p.rxsync();
    return rc < 0 && rc != -ENOTCONN;
}

int forked_error(NetmapFd& e, const char* what) noexcept {
    if (!e.reported) {
        e.reported = true;
        std::fprintf(stderr, "upio-netmap: %s on a netmap descriptor inherited across fork: its port (%s) lives in "
                             "the parent process; open /dev/netmap again in the child\n",
                     what, e.port ? e.port->name().full.c_str() : "not registered");
    }
    return EOPNOTSUPP;
}

namespace {
// fork(): the table's lock is not held across it, and in the child every
// netmap descriptor is marked inherited.
void before_fork() {
    control_mu.lock();
    regions_mu.lock();
}
void after_fork_parent() {
    regions_mu.unlock();
    control_mu.unlock();
}
void after_fork_child() {
    for (int fd : open_fds)
        if (NetmapFd* e = fd_table[std::size_t(fd)].load(std::memory_order_relaxed)) {
            e->forked = true;
            e->reported = false;
        }
    regions_mu.unlock();
    control_mu.unlock();
}
[[maybe_unused]] const int atfork_registered = pthread_atfork(before_fork, after_fork_parent, after_fork_child);
} // namespace

int control(int fd, NetmapFd& e, unsigned long req, void* arg) {
    std::lock_guard lk(control_mu);
    if (e.forked) {
        errno = forked_error(e, "ioctl");
        return -1;
    }
    const char* what = req == NIOCCTRL ? "NIOCCTRL" : req == NIOCREGIF ? "NIOCREGIF" : req == NIOCGINFO ? "NIOCGINFO" : "";
    Result r;
    std::string name;
    if (!arg && *what) {
        r = {EFAULT, "no argument"};
    } else if (req == NIOCCTRL) {
        auto& h = *static_cast<nmreq_header*>(arg);
        name = fmt::format("{} '{:.{}}'", reqtype_name(h.nr_reqtype), h.nr_name, sizeof h.nr_name);
        r = ctrl(fd, e, h);
    } else if (req == NIOCREGIF || req == NIOCGINFO) {
        auto& q = *static_cast<nmreq*>(arg);
        name = fmt::format("'{:.{}}'", q.nr_name, sizeof q.nr_name);
        if (!std::memchr(q.nr_name, 0, sizeof q.nr_name)) {
            r = {EINVAL, "nr_name is not terminated"};
        } else if (q.nr_version != NETMAP_API) {
            r = {EINVAL, fmt::format("API version {}; the legacy requests speak {}", q.nr_version, NETMAP_API)};
        } else if (req == NIOCREGIF) {
            r = legacy_register(fd, e, q);
        } else {
            Info i;
            r = port_info(e, q.nr_name, i);
            if (r) {
                q.nr_memsize = std::uint32_t(std::min<std::uint64_t>(i.memsize, UINT32_MAX));
                q.nr_tx_slots = i.tx_slots;
                q.nr_rx_slots = i.rx_slots;
                q.nr_tx_rings = i.tx_rings;
                q.nr_rx_rings = i.rx_rings;
                q.nr_arg2 = i.mem_id;
            }
        }
    } else {
        what = "ioctl";
        name = fmt::format("{:#x}", req);
        r = {ENOTTY, "not a netmap request"};
    }
    if (r) return 0;
    // ENOENT ends a VALE_LIST walk: an answer, not a failure.
    if (!r.message.empty()) std::fprintf(stderr, "upio-netmap: %s %s: %s\n", what, name.c_str(), r.message.c_str());
    errno = r.code;
    return -1;
}

void* map_region(NetmapFd& e, void* addr, std::size_t len, int flags, off_t off) {
    const char* why = nullptr;
    if (e.forked) {
        errno = forked_error(e, "mmap");
        return MAP_FAILED;
    }
    if (!e.port) why = "before the port is registered";
    else if (off != 0 || len > e.region.size) why = "beyond the region";
    else if (flags & MAP_FIXED) why = "at a fixed address (MAP_FIXED): the region is mapped already";
    if (why) {
        std::fprintf(stderr, "upio-netmap: mmap of /dev/netmap %s\n", why);
        errno = EINVAL;
        return MAP_FAILED;
    }
    (void)addr; // a hint only: the region is where upio mapped it
    return e.region.base;
}

bool is_mapped_region(const void* addr) noexcept {
    if (nregions.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard lk(regions_mu);
    const char* a = static_cast<const char*>(addr);
    for (const Mapped& m : regions)
        if (a >= m.base && a < m.base + m.size) return true;
    return false;
}

} // namespace upio_netmap
