// SET_MEM_TABLE: checking and mapping the front end's regions.
#include "vhost/guest_memory.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace upio::vhost {

namespace {

bool wraps(std::uint64_t a, std::uint64_t len) { return a + len < a; }

bool overlap(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
    return a < b + blen && b < a + alen;
}

} // namespace

Status GuestMemory::check(std::span<const GuestRegion> regions) {
    if (regions.size() > max_mem_regions)
        return make_error(EINVAL, fmt::format("{} memory regions (at most {})", regions.size(), max_mem_regions));
    for (std::size_t i = 0; i < regions.size(); i++) {
        const GuestRegion& r = regions[i];
        if (r.size == 0) return make_error(EINVAL, fmt::format("memory region {} has size 0", i));
        if (wraps(r.gpa, r.size) || wraps(r.uva, r.size))
            return make_error(EINVAL, fmt::format("memory region {} wraps around the address space", i));
        for (std::size_t j = 0; j < i; j++) {
            if (overlap(r.gpa, r.size, regions[j].gpa, regions[j].size))
                return make_error(EINVAL, fmt::format("memory regions {} and {} overlap in guest addresses", j, i));
            if (overlap(r.uva, r.size, regions[j].uva, regions[j].size))
                return make_error(EINVAL, fmt::format("memory regions {} and {} overlap in front-end addresses", j, i));
        }
    }
    return {};
}

Status GuestMemory::set(std::span<const MemRegionMsg> regions, std::span<const int> fds) {
    clear();
    auto close_all = [&] {
        for (int fd : fds) ::close(fd);
    };
    if (fds.size() != regions.size()) {
        close_all();
        return make_error(EINVAL, fmt::format("{} memory regions but {} file descriptors", regions.size(), fds.size()));
    }
    GuestRegion table[max_mem_regions];
    if (regions.size() > max_mem_regions) {
        close_all();
        return make_error(EINVAL, fmt::format("{} memory regions (at most {})", regions.size(), max_mem_regions));
    }
    for (std::size_t i = 0; i < regions.size(); i++)
        table[i] = GuestRegion{regions[i].guest_addr, regions[i].size, regions[i].user_addr, nullptr, nullptr, 0};
    if (Status s = check({table, regions.size()}); !s) {
        close_all();
        return s;
    }
    Status st;
    std::size_t mapped = 0;
    for (; mapped < regions.size(); mapped++) {
        const MemRegionMsg& m = regions[mapped];
        const int fd = fds[mapped];
        struct stat sb {};
        if (fstat(fd, &sb) < 0) {
            st = make_error(errno, fmt::format("memory region {}: fstat: {}", mapped, std::strerror(errno)));
            break;
        }
        // The whole range must be inside the file: touching a page past its
        // end would raise SIGBUS here.
        if (wraps(m.mmap_offset, m.size) || std::uint64_t(sb.st_size) < m.mmap_offset + m.size) {
            st = make_error(EINVAL, fmt::format("memory region {}: offset {} + size {} is beyond its file ({} bytes)",
                                                mapped, m.mmap_offset, m.size, std::uint64_t(sb.st_size)));
            break;
        }
        // hugetlbfs maps whole pages only (st_blksize is its page size).
        std::uint64_t align = sb.st_blksize > 0 ? std::uint64_t(sb.st_blksize) : 4096;
        std::uint64_t len = m.mmap_offset + m.size;
        len = (len + align - 1) / align * align;
        void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            st = make_error(errno, fmt::format("memory region {}: cannot map {} bytes: {}", mapped, len,
                                               std::strerror(errno)));
            break;
        }
        table[mapped].map = p;
        table[mapped].map_len = len;
        table[mapped].host = static_cast<char*>(p) + m.mmap_offset;
    }
    close_all(); // a mapping outlives its fd
    if (!st) {
        for (std::size_t i = 0; i < mapped; i++) munmap(table[i].map, table[i].map_len);
        return st;
    }
    for (std::size_t i = 0; i < regions.size(); i++) r_[i] = table[i];
    n_ = std::uint32_t(regions.size());
    owned_ = true;
    return {};
}

Status GuestMemory::set_unowned(std::span<const GuestRegion> regions) {
    clear();
    if (Status s = check(regions); !s) return s;
    for (std::size_t i = 0; i < regions.size(); i++) r_[i] = regions[i];
    n_ = std::uint32_t(regions.size());
    owned_ = false;
    return {};
}

void GuestMemory::clear() noexcept {
    if (owned_)
        for (std::uint32_t i = 0; i < n_; i++) munmap(r_[i].map, r_[i].map_len);
    n_ = 0;
    owned_ = false;
}

char* GuestMemory::uva_to_host(std::uint64_t uva, std::uint64_t len) const noexcept {
    for (std::uint32_t i = 0; i < n_; i++) {
        const GuestRegion& r = r_[i];
        if (uva - r.uva < r.size) {
            if (len == 0 || len > r.size - (uva - r.uva)) return nullptr;
            return r.host + (uva - r.uva);
        }
    }
    return nullptr;
}

} // namespace upio::vhost
