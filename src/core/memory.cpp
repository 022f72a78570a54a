// Memory regions: one pre-faulted mapping for rings and buffers.
#include <upio/backend/memory_region.hpp>
#include <upio/log.hpp>
#include <upio/netmap.h>

#include <fmt/format.h>
extern "C" {
#include <hugetlbfs.h> // the header has no extern "C" of its own
}
#include <numa.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <numaif.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

namespace upio {
namespace {

constexpr std::size_t huge_size = 2u << 20;
constexpr std::size_t obj_align = 128;

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

// Hugepages through libhugetlbfs: needs a mounted hugetlbfs with free 2 MiB
// pages. Returns nullptr (and a reason) when that is not the case, without
// letting libhugetlbfs print its own warnings.
void* try_hugepages(std::size_t len, std::string& why) {
    if (!hugetlbfs_find_path_for_size(long(huge_size))) {
        why = "no hugetlbfs mount for 2 MiB pages";
        return nullptr;
    }
    long free = -1;
    if (FILE* f = std::fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r")) {
        if (std::fscanf(f, "%ld", &free) != 1) free = -1;
        std::fclose(f);
    }
    if (free >= 0 && std::size_t(free) * huge_size < len) {
        why = fmt::format("{} free 2 MiB hugepages, {} needed", free, len / huge_size);
        return nullptr;
    }
    void* p = get_huge_pages(len, GHP_DEFAULT);
    if (!p) why = "get_huge_pages failed";
    return p;
}

// Whether the free 2 MiB hugepages cover `len` bytes; why not in `why`.
bool enough_hugepages(std::size_t len, std::string& why) {
    long free = -1;
    if (FILE* f = std::fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r")) {
        if (std::fscanf(f, "%ld", &free) != 1) free = -1;
        std::fclose(f);
    }
    if (free < 0) {
        why = "no 2 MiB hugepages on this system";
        return false;
    }
    if (std::size_t(free) * huge_size < len) {
        why = fmt::format("{} free 2 MiB hugepages, {} needed", free, len / huge_size);
        return false;
    }
    return true;
}

// A shared region: a memfd of `len` bytes mapped MAP_SHARED, on 2 MiB
// hugepages (MFD_HUGETLB) when `huge`. MAP_FAILED and a reason on failure.
void* map_memfd(std::string_view name, std::size_t len, bool huge, int& fd, std::string& why) {
    const std::string tag = fmt::format("upio:{}", name);
    unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
    fd = memfd_create(tag.c_str(), flags);
    if (fd < 0) {
        why = fmt::format("memfd_create: {}", std::strerror(errno));
        return MAP_FAILED;
    }
    void* p = MAP_FAILED;
    // sealed at its size: a peer that gets the fd cannot shrink it under us
    // (our next access would be SIGBUS) nor grow it
    if (ftruncate(fd, off_t(len)) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0)
        p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        why = fmt::format("{} bytes of memfd{}: {}", len, huge ? " on hugepages" : "", std::strerror(errno));
        ::close(fd);
        fd = -1;
    }
    return p;
}

int default_node(int wanted) {
    if (numa_available() < 0) return -1;
    if (wanted >= 0) return wanted;
    int cpu = sched_getcpu();
    return cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
}

std::once_flag warned_once;

} // namespace

Result<std::shared_ptr<MemoryRegion>> MemoryRegion::create(std::string_view name, std::size_t object_bytes,
                                                           std::uint32_t num_bufs, const MemoryConfig& cfg,
                                                           std::size_t device_object_bytes) {
    if (cfg.buf_size < 64 || cfg.buf_size > 65535 || cfg.buf_size % 64 != 0)
        return make_error(EINVAL, fmt::format("{}: buffer size {} must be a multiple of 64 between 64 and 65472",
                                              name, cfg.buf_size));
    if (num_bufs <= first_buf)
        return make_error(EINVAL, fmt::format("{}: {} buffers are too few (buffers 0 and 1 are reserved)",
                                              name, num_bufs));
    if (numa_available() >= 0 && cfg.numa_node > numa_max_node())
        return make_error(EINVAL, fmt::format("{}: NUMA node {} does not exist (this machine has 0..{})", name,
                                              cfg.numa_node, numa_max_node()));

    std::shared_ptr<MemoryRegion> r(new MemoryRegion());
    r->name_ = std::string(name);
    r->buf_size_ = cfg.buf_size;
    r->num_bufs_ = num_bufs;
    const std::size_t host_objs = round_up(std::max<std::size_t>(object_bytes, obj_align), 4096);
    const std::size_t dev_objs = round_up(device_object_bytes, 4096);
    std::size_t objs = host_objs + dev_objs;
    std::size_t bytes = objs + std::size_t(num_bufs) * cfg.buf_size;

    std::string why;
    void* p = nullptr;
    if (cfg.hugepages != HugepagePolicy::never) {
        std::size_t len = round_up(bytes, huge_size);
        if (!cfg.shared) {
            p = try_hugepages(len, why);
        } else if (enough_hugepages(len, why)) {
            p = map_memfd(name, len, true, r->fd_, why);
            if (p == MAP_FAILED) p = nullptr;
        }
        if (p) {
            r->huge_ = true;
            r->size_ = len;
            r->page_size_ = huge_size;
        } else if (cfg.hugepages == HugepagePolicy::require) {
            return make_error(ENOMEM, fmt::format("{}: hugepages required but unavailable ({}); reserve them with "
                                                  "'upio-setup hugepages N'",
                                                  name, why));
        } else {
            std::call_once(warned_once, [&] {
                log(LogLevel::warn, fmt::format("{}; using normal pages (run 'upio-setup hugepages N')", why));
            });
        }
    }
    if (!p) {
        std::size_t len = round_up(bytes, 4096);
        if (cfg.shared)
            p = map_memfd(name, len, false, r->fd_, why);
        else
            p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return make_error(errno, fmt::format("{}: cannot map {} bytes: {}", name, len,
                                                 cfg.shared ? why : std::string(std::strerror(errno))));
        r->size_ = len;
        r->page_size_ = 4096;
    }
    r->base_ = static_cast<char*>(p);
    r->bufs_ = r->base_ + objs;
    r->device_off_ = host_objs;

    // NUMA placement before the first touch decides where pages land.
    r->requested_node_ = cfg.numa_node;
    r->node_ = default_node(cfg.numa_node);
    if (r->node_ >= 0 && numa_num_configured_nodes() > 1) numa_tonode_memory(p, r->size_, r->node_);
    std::memset(p, 0, r->size_); // pre-fault everything: no faults on the data path
    mlock(p, r->size_);          // best effort; DMA mappings pin pages themselves

    r->free_list_.reserve(num_bufs - first_buf);
    for (std::uint32_t i = num_bufs; i-- > first_buf;) r->free_list_.push_back(i);
    r->is_free_.assign(num_bufs, true);
    r->is_private_.assign(num_bufs, false);
    r->free_objects_[0] = host_objs;
    if (dev_objs) r->free_device_objects_[host_objs] = dev_objs;
    return r;
}

Result<std::shared_ptr<MemoryRegion>> MemoryRegion::attach(std::string_view name, int fd, std::size_t object_bytes,
                                                           std::uint32_t num_bufs, std::uint32_t buf_size) {
    struct stat st{};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return make_error(e, fmt::format("{}: cannot read the shared region's size: {}", name, std::strerror(e)));
    }
    const std::size_t size = std::size_t(st.st_size);
    // The geometry came from another process: it must describe this file.
    const bool ok = buf_size >= 64 && buf_size <= 65535 && buf_size % 64 == 0 && num_bufs > first_buf &&
                    object_bytes % 4096 == 0 && object_bytes > 0 && object_bytes <= size &&
                    std::uint64_t(num_bufs) * buf_size <= size - object_bytes;
    if (!ok) {
        ::close(fd);
        return make_error(EPROTO, fmt::format("{}: the shared region's layout ({} object bytes, {} buffers of {}) "
                                              "does not fit its {} bytes",
                                              name, object_bytes, num_bufs, buf_size, size));
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        return make_error(e, fmt::format("{}: cannot map the shared region ({} bytes): {}", name, size,
                                         std::strerror(e)));
    }
    std::shared_ptr<MemoryRegion> r(new MemoryRegion());
    r->name_ = std::string(name);
    r->fd_ = fd;
    r->attached_ = true;
    r->base_ = static_cast<char*>(p);
    r->bufs_ = r->base_ + object_bytes;
    r->device_off_ = object_bytes; // its creator's devices map it, not this process's
    r->size_ = size;
    r->num_bufs_ = num_bufs;
    r->buf_size_ = buf_size;
    r->page_size_ = size % huge_size == 0 && size >= huge_size ? huge_size : 4096;
    r->huge_ = false; // placed (and pre-faulted) by its creator
    r->node_ = -1;
    mlock(p, size);
    r->is_free_.assign(num_bufs, false); // every buffer is the creator's to hand out
    r->is_private_.assign(num_bufs, true); // and to take back: nothing here frees one
    return r;
}

MemoryRegion::~MemoryRegion() {
    if (!base_) return;
    munlock(base_, size_);
    if (huge_ && fd_ < 0)
        free_huge_pages(base_);
    else
        munmap(base_, size_);
    if (fd_ >= 0) ::close(fd_);
}

Status MemoryRegion::add_free_objects(std::size_t offset, std::size_t bytes) {
    if (offset % obj_align != 0 || bytes < obj_align || offset > object_bytes() || bytes > object_bytes() - offset)
        return make_error(EINVAL, fmt::format("{}: objects [{}, +{}) are not inside the objects area ({} bytes)",
                                              name_, offset, bytes, object_bytes()));
    std::lock_guard lk(mu_);
    free_objects_[offset] = bytes / obj_align * obj_align;
    return {};
}

void MemoryRegion::set_iova_map(unsigned shift, std::vector<std::uint64_t> page_iovas) {
    iova_shift_ = shift;
    iova_pages_ = std::move(page_iovas);
}

void MemoryRegion::clear_iova_map() { iova_pages_.clear(); }

Result<std::uint32_t> MemoryRegion::alloc_buf() {
    std::lock_guard lk(mu_);
    if (free_list_.empty())
        return make_error(ENOMEM, fmt::format("{}: all {} buffers are in use; open with more buffers "
                                              "(PortOptions::memory.num_bufs)",
                                              name_, num_bufs_ - first_buf));
    std::uint32_t idx = free_list_.back();
    free_list_.pop_back();
    is_free_[idx] = false;
    is_private_[idx] = true;
    return idx;
}

void MemoryRegion::free_locked(std::uint32_t idx) {
    is_free_[idx] = true;
    is_private_[idx] = false;
    free_list_.push_back(idx);
}

void MemoryRegion::free_buf(std::uint32_t idx) {
    if (!valid_buf(idx)) return;
    std::lock_guard lk(mu_);
    if (!is_free_[idx]) free_locked(idx);
}

namespace {
// A word of shared memory another thread may be writing.
std::uint32_t load_shared(const std::uint32_t& w) {
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(w)).load(std::memory_order_relaxed);
}
} // namespace

Status MemoryRegion::add_ring(netmap_slot* slots, std::uint32_t n) {
    std::lock_guard lk(mu_);
    if (free_list_.size() < n)
        return make_error(ENOMEM, fmt::format("{}: all {} buffers are in use; open with more buffers "
                                              "(PortOptions::memory.num_bufs)",
                                              name_, num_bufs_ - first_buf));
    for (std::uint32_t s = 0; s < n; s++) {
        const std::uint32_t idx = free_list_.back();
        free_list_.pop_back();
        is_free_[idx] = false;
        slots[s] = netmap_slot{idx, 0, 0, 0};
    }
    rings_.emplace_back(slots, n);
    return {};
}

void MemoryRegion::remove_ring(const netmap_slot* slots) {
    std::lock_guard lk(mu_);
    std::erase_if(rings_, [&](const auto& r) { return r.first == slots; });
}

void MemoryRegion::add_held(const std::uint32_t* idx, std::uint32_t n) {
    std::lock_guard lk(mu_);
    held_.emplace_back(idx, n);
}

void MemoryRegion::remove_held(const std::uint32_t* idx) {
    std::lock_guard lk(mu_);
    std::erase_if(held_, [&](const auto& h) { return h.first == idx; });
}

Status MemoryRegion::add_extra_list(std::uint32_t* head, std::uint32_t n) {
    std::lock_guard lk(mu_);
    if (free_list_.size() < n)
        return make_error(ENOMEM, fmt::format("{}: {} of {} buffers are free", name_, free_list_.size(),
                                              num_bufs_ - first_buf));
    for (std::uint32_t i = 0; i < n; i++) {
        const std::uint32_t idx = free_list_.back();
        free_list_.pop_back();
        is_free_[idx] = false;
        std::memcpy(buf(idx), head, 4);
        *head = idx;
    }
    extra_lists_.push_back(head);
    return {};
}

std::vector<bool> MemoryRegion::held_elsewhere() const {
    std::vector<bool> held(num_bufs_, false);
    // Two whole passes over the rings and backends' indices: a buffer that
    // moves once while this runs (a pipe's swap, a driver's rotation, a
    // zero-copy swap with a descriptor) moves during at most one of them,
    // and the other sees it where it stays.
    for (int pass = 0; pass < 2; pass++) {
        for (auto [slots, n] : rings_)
            for (std::uint32_t s = 0; s < n; s++)
                if (std::uint32_t idx = load_shared(slots[s].buf_idx); valid_buf(idx)) held[idx] = true;
        for (auto [v, n] : held_)
            for (std::uint32_t i = 0; i < n; i++)
                if (std::uint32_t idx = load_shared(v[i]); valid_buf(idx)) held[idx] = true;
    }
    // Other Ports' lists, as their applications left them (at most
    // num_bufs links each: a cycle there ends too).
    for (std::uint32_t* head : extra_lists_) {
        std::uint32_t idx = load_shared(*head);
        for (std::uint32_t k = 0; k < num_bufs_ && valid_buf(idx); k++) {
            held[idx] = true;
            idx = load_shared(*reinterpret_cast<const std::uint32_t*>(buf(idx)));
        }
    }
    return held;
}

std::uint32_t MemoryRegion::release_extra_list(std::uint32_t* head, std::uint32_t max) {
    std::lock_guard lk(mu_);
    std::erase(extra_lists_, head);
    std::vector<std::uint32_t> listed;
    std::vector<bool> seen(num_bufs_, false);
    std::uint32_t refused = 0;
    // The walk ends at 0, at an index outside the region and at a buffer
    // already walked (a list naming a buffer twice is a cycle).
    for (std::uint32_t idx = load_shared(*head); idx != 0;) {
        if (!valid_buf(idx) || seen[idx]) {
            refused++;
            break;
        }
        seen[idx] = true;
        listed.push_back(idx);
        idx = load_shared(*reinterpret_cast<const std::uint32_t*>(buf(idx)));
    }
    *head = 0;
    const std::vector<bool> held = held_elsewhere();
    std::uint32_t freed = 0;
    for (std::uint32_t idx : listed) {
        if (is_free_[idx] || is_private_[idx] || held[idx] || freed == max) {
            refused++;
            continue;
        }
        free_locked(idx);
        freed++;
    }
    refused_ += refused;
    return refused;
}

std::uint32_t MemoryRegion::release_bufs(const std::vector<std::uint32_t>& idx) {
    std::lock_guard lk(mu_);
    const std::vector<bool> held = held_elsewhere();
    std::uint32_t refused = 0;
    for (std::uint32_t i : idx) {
        if (i == 0) continue;
        if (!valid_buf(i) || is_free_[i] || is_private_[i] || held[i]) {
            refused++;
            continue;
        }
        free_locked(i);
    }
    refused_ += refused;
    return refused;
}

std::uint64_t MemoryRegion::refused_bufs() const {
    std::lock_guard lk(mu_);
    return refused_;
}

std::uint32_t MemoryRegion::free_bufs() const {
    std::lock_guard lk(mu_);
    return std::uint32_t(free_list_.size());
}

Result<void*> MemoryRegion::alloc_from(std::map<std::size_t, std::size_t>& pool, std::size_t bytes, const char* what) {
    bytes = round_up(std::max<std::size_t>(bytes, 1), obj_align);
    std::lock_guard lk(mu_);
    for (auto it = pool.begin(); it != pool.end(); ++it) {
        if (it->second < bytes) continue;
        std::size_t off = it->first, len = it->second;
        pool.erase(it);
        if (len > bytes) pool[off + bytes] = len - bytes;
        used_objects_[off] = bytes;
        return static_cast<void*>(base_ + off);
    }
    return make_error(ENOMEM, fmt::format("{}: no room for {} more bytes of {}; the region was sized for "
                                          "fewer rings or slots",
                                          name_, bytes, what));
}

Result<void*> MemoryRegion::alloc_object(std::size_t bytes) { return alloc_from(free_objects_, bytes, "rings"); }

Result<void*> MemoryRegion::alloc_device_object(std::size_t bytes) {
    return alloc_from(free_device_objects_, bytes, "descriptor rings");
}

void MemoryRegion::free_object(void* p) {
    std::lock_guard lk(mu_);
    auto it = used_objects_.find(std::size_t(static_cast<char*>(p) - base_));
    if (it == used_objects_.end()) return;
    std::size_t off = it->first, len = it->second;
    used_objects_.erase(it);
    auto& pool = off >= device_off_ && off < object_bytes() ? free_device_objects_ : free_objects_;
    auto next = pool.lower_bound(off);
    if (next != pool.end() && next->first == off + len) {
        len += next->second;
        pool.erase(next);
    }
    auto prev = pool.lower_bound(off);
    if (prev != pool.begin()) {
        --prev;
        if (prev->first + prev->second == off) {
            prev->second += len;
            return;
        }
    }
    pool[off] = len;
}

} // namespace upio
