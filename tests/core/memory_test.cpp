// Memory regions: buffer arithmetic, allocation, hugepage fallback, extra buffers.
#include "../common/require.hpp"
#include "helpers.hpp"

#include <upio/backend/memory_region.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <tuple>
#include <vector>

namespace upio::test {
namespace {

MemoryConfig normal_pages() {
    MemoryConfig c;
    c.hugepages = HugepagePolicy::never;
    return c;
}

TEST(Memory, BufferIndexAddressRoundTrip) {
    auto r = MemoryRegion::create("t", 4096, 64, normal_pages());
    ASSERT_TRUE(r.ok()) << r.error().message;
    MemoryRegion& m = *r.value();
    EXPECT_EQ(m.num_bufs(), 64u);
    EXPECT_EQ(m.buf_size(), 2048u);
    EXPECT_FALSE(m.valid_buf(0));
    EXPECT_FALSE(m.valid_buf(1)); // reserved, as in netmap
    EXPECT_TRUE(m.valid_buf(2));
    EXPECT_TRUE(m.valid_buf(63));
    EXPECT_FALSE(m.valid_buf(64));
    for (std::uint32_t i = 2; i < 64; i++) EXPECT_EQ(m.buf_index(m.buf(i)), i);
    EXPECT_TRUE(m.contains(m.buf(63), 2048));
    EXPECT_FALSE(m.contains(m.buf(63), 2049 + m.size()));
}

// Device objects (descriptor rings) lie between the objects area and the
// buffers, from their own allocator: a DMA mapping starts at
// device_offset(), so rings and netmap_ifs are never within a device's reach.
TEST(Memory, DeviceObjectsLieBetweenTheRingsAndTheBuffers) {
    auto r = MemoryRegion::create("t", 4096, 16, normal_pages(), 3 * 4096);
    ASSERT_TRUE(r.ok()) << r.error().message;
    MemoryRegion& m = *r.value();
    EXPECT_EQ(m.device_offset(), 4096u);
    EXPECT_EQ(m.object_bytes(), 4u * 4096);
    auto host = m.alloc_object(4096);
    ASSERT_TRUE(host.ok());
    EXPECT_LT(m.offset_of(host.value()), m.device_offset());
    EXPECT_FALSE(m.alloc_object(128).ok()); // the host objects are used up; device room is not lent
    std::vector<void*> dev;
    for (int i = 0; i < 3; i++) {
        auto d = m.alloc_device_object(4096);
        ASSERT_TRUE(d.ok());
        EXPECT_GE(m.offset_of(d.value()), m.device_offset());
        EXPECT_LE(m.offset_of(d.value()) + 4096, m.object_bytes());
        dev.push_back(d.value());
    }
    auto none = m.alloc_device_object(128);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("descriptor rings"), std::string::npos);
    m.free_object(dev[1]); // back to the device pool, not the host one
    EXPECT_FALSE(m.alloc_object(128).ok());
    EXPECT_EQ(m.alloc_device_object(4096).value(), dev[1]);
    m.free_object(host.value());
    EXPECT_EQ(m.alloc_object(4096).value(), host.value());
}

TEST(Memory, AllocatorHandsOutEachBufferOnce) {
    auto r = MemoryRegion::create("t", 4096, 10, normal_pages());
    ASSERT_TRUE(r.ok());
    std::set<std::uint32_t> got;
    for (int i = 0; i < 8; i++) {
        auto b = r.value()->alloc_buf();
        ASSERT_TRUE(b.ok());
        EXPECT_TRUE(got.insert(b.value()).second);
    }
    auto none = r.value()->alloc_buf();
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("buffers are in use"), std::string::npos);
    r.value()->free_buf(*got.begin());
    r.value()->free_buf(*got.begin()); // twice: ignored
    EXPECT_EQ(r.value()->free_bufs(), 1u);
}

TEST(Memory, IovaTableTranslatesEveryByte) {
    auto r = MemoryRegion::create("t", 4096, 16, normal_pages());
    ASSERT_TRUE(r.ok());
    MemoryRegion& m = *r.value();
    std::vector<std::uint64_t> pages(m.size() / 4096);
    for (std::size_t i = 0; i < pages.size(); i++) pages[i] = 0x10000000 + (pages.size() - i) * 4096; // scrambled
    m.set_iova_map(12, pages);
    EXPECT_TRUE(m.dma_mapped());
    const char* b = m.buf(5) + 100;
    std::size_t off = std::size_t(b - m.base());
    EXPECT_EQ(m.iova(b).value, pages[off / 4096] + off % 4096);
    EXPECT_NE(m.iova(b).value, reinterpret_cast<std::uintptr_t>(b));
}

TEST(Memory, BadSizesAreRefusedWithAReason) {
    MemoryConfig c = normal_pages();
    c.buf_size = 100;
    auto r = MemoryRegion::create("t", 4096, 16, c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("multiple of 64"), std::string::npos);
    auto few = MemoryRegion::create("t", 4096, 2, normal_pages());
    ASSERT_FALSE(few.ok());
    c = normal_pages();
    c.numa_node = 999;
    auto node = MemoryRegion::create("t", 4096, 16, c);
    if (!node.ok()) {
        EXPECT_NE(node.error().message.find("NUMA node 999"), std::string::npos);
    }
}

long free_hugepages() {
    std::ifstream f("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    long n = -1;
    f >> n;
    return n;
}

bool hugetlbfs_mounted() {
    std::ifstream f("/proc/mounts");
    std::string line;
    while (std::getline(f, line))
        if (line.find(" hugetlbfs ") != std::string::npos) return true;
    return false;
}

// Buffers for a region larger than every free 2 MiB page: it cannot fit.
std::uint32_t bufs_beyond_the_hugepage_pool() {
    const long free_pages = std::max(0L, free_hugepages());
    return std::uint32_t((std::size_t(free_pages) * (2u << 20) + (64u << 20)) / 2048);
}

TEST(Memory, HugepagesOrFallbackWithWarning) {
    MemoryConfig c;
    c.hugepages = HugepagePolicy::prefer;
    const std::uint32_t bufs = bufs_beyond_the_hugepage_pool();
    auto r = MemoryRegion::create("huge-fallback", 4096, bufs, c);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r.value()->on_hugepages());
    EXPECT_EQ(r.value()->page_size(), 4096u);

    c.hugepages = HugepagePolicy::require;
    auto req = MemoryRegion::create("huge-required", 4096, bufs, c);
    ASSERT_FALSE(req.ok());
    EXPECT_NE(req.error().message.find("upio-setup hugepages"), std::string::npos) << req.error().message;
}

TEST(Memory, FallbackWarnsInOneLineOncePerProcess) {
    // In a child process of its own, so no earlier test has warned already.
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::uint32_t bufs = bufs_beyond_the_hugepage_pool();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(fds[1], 2);
        MemoryConfig c;
        c.hugepages = HugepagePolicy::prefer;
        bool ok = MemoryRegion::create("warn-a", 4096, bufs, c).ok() && MemoryRegion::create("warn-b", 4096, bufs, c).ok();
        std::fflush(stderr);
        ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    std::string err;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, std::size_t(n));
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
    std::size_t warnings = 0;
    for (std::size_t at = 0; (at = err.find("upio: warning:", at)) != std::string::npos; at++) warnings++;
    EXPECT_EQ(warnings, 1u) << "one warning for two regions on normal pages:\n" << err;
    EXPECT_NE(err.find("using normal pages"), std::string::npos) << err;
    EXPECT_NE(err.find("upio-setup hugepages"), std::string::npos) << "the warning says what to do: " << err;
}

TEST(Memory, UsesHugepagesWhenReserved) {
    if (!hugetlbfs_mounted() || free_hugepages() < 4)
        UPIO_MISSING_PREREQUISITE("no hugetlbfs mount with 4 free 2 MiB pages (scripts/upio-setup hugepages 64)");
    MemoryConfig c;
    c.hugepages = HugepagePolicy::require;
    auto r = MemoryRegion::create("huge", 4096, 1024, c); // ~2 MiB of buffers
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r.value()->on_hugepages());
    EXPECT_EQ(r.value()->page_size(), 2u << 20);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.value()->base()) % (2u << 20), 0u);
}

TEST(Memory, ASharedRegionIsAMemfdAnotherMappingSees) {
    for (HugepagePolicy hp : {HugepagePolicy::never, HugepagePolicy::prefer}) {
        MemoryConfig c;
        c.hugepages = hp;
        c.shared = true;
        auto r = MemoryRegion::create("shared", 8192, 64, c);
        ASSERT_TRUE(r.ok()) << r.error().message;
        MemoryRegion& m = *r.value();
        ASSERT_GE(m.fd(), 0);
        EXPECT_EQ(m.object_bytes(), 8192u);
        std::snprintf(m.buf(5), 16, "hello");
        // a second mapping of the same file, as a peer process makes it
        auto a = MemoryRegion::attach("peer", dup(m.fd()), m.object_bytes(), m.num_bufs(), m.buf_size());
        ASSERT_TRUE(a.ok()) << a.error().message;
        MemoryRegion& p = *a.value();
        EXPECT_NE(p.base(), m.base());
        EXPECT_STREQ(p.buf(5), "hello");
        std::snprintf(p.buf(6), 16, "back");
        EXPECT_STREQ(m.buf(6), "back");
        // its allocators start empty: objects only where the creator says
        EXPECT_FALSE(p.alloc_buf().ok());
        EXPECT_FALSE(p.alloc_object(128).ok());
        ASSERT_TRUE(p.add_free_objects(4096, 256).ok());
        auto o = p.alloc_object(200);
        ASSERT_TRUE(o.ok());
        EXPECT_EQ(p.offset_of(o.value()), 4096u);
        EXPECT_FALSE(p.add_free_objects(8192, 128).ok()); // the buffer area is not for objects
    }
    EXPECT_EQ(MemoryRegion::create("private", 4096, 8, normal_pages()).value()->fd(), -1);
}

TEST(Memory, AttachRefusesALayoutTheFileCannotHold) {
    MemoryConfig c = normal_pages();
    c.shared = true;
    auto r = MemoryRegion::create("shared", 4096, 16, c);
    ASSERT_TRUE(r.ok());
    MemoryRegion& m = *r.value();
    for (auto [objs, n, sz] : {std::tuple<std::size_t, std::uint32_t, std::uint32_t>{4096, 17, 2048},
                               {4096, 16, 4096}, {100, 16, 2048}, {4096, 1, 2048}, {4096, 16, 100},
                               {1ull << 40, 16, 2048}, {4096, 0xffffffffu, 65472}}) {
        auto a = MemoryRegion::attach("peer", dup(m.fd()), objs, n, sz);
        ASSERT_FALSE(a.ok()) << objs << " " << n << " " << sz;
        EXPECT_NE(a.error().message.find("does not fit"), std::string::npos) << a.error().message;
    }
}

TEST(Memory, ExtraBuffersFormAListInTheNetmapIf) {
    PortOptions o = small_opts(16);
    o.extra_bufs = 5;
    auto p = open_ok("pipe:" + unique_name("extra") + "{0", o);
    ASSERT_TRUE(p);
    MemoryRegion& m = p->memory();
    std::set<std::uint32_t> ring_bufs;
    for (auto* r : {p->tx_ring(0), p->rx_ring(0)})
        for (std::uint32_t i = 0; i < r->num_slots; i++) ring_bufs.insert(r->slot[i].buf_idx);
    std::uint32_t idx = p->nifp()->ni_bufs_head, n = 0;
    while (idx) {
        ASSERT_TRUE(m.valid_buf(idx));
        EXPECT_EQ(ring_bufs.count(idx), 0u);
        std::memcpy(&idx, m.buf(idx), 4);
        n++;
    }
    EXPECT_EQ(n, 5u);
}

// Buffers on a Port's extra-buffer list.
std::set<std::uint32_t> extra_list(Port& p) {
    std::set<std::uint32_t> v;
    MemoryRegion& m = p.memory();
    for (std::uint32_t idx = p.nifp()->ni_bufs_head; m.valid_buf(idx) && v.size() < m.num_bufs();) {
        v.insert(idx);
        std::memcpy(&idx, m.buf(idx), 4);
    }
    return v;
}

// A pipe whose rings cannot be filled (the region is out of buffers) is
// built where a closed pipe's rings were. Undoing it must free only the
// buffers it took, not the indices the old rings left in that space: those
// buffers belong to someone else now (here, a Port's extra buffers), and
// handing them out again would put one buffer in two places.
TEST(Memory, AFailedOpenFreesOnlyTheBuffersItTook) {
    const std::string name = unique_name("stale");
    PortOptions o = small_opts(16);
    o.memory.num_bufs = MemoryRegion::first_buf + 2 * 64; // two pipes of 16-slot rings
    auto a0 = open_ok("pipe:" + name + "{0", o);
    auto b0 = open_ok("pipe:" + name + "}0", o);
    auto a1 = open_ok("pipe:" + name + "{1", o);
    auto b1 = open_ok("pipe:" + name + "}1", o);
    ASSERT_TRUE(a0 && b0 && a1 && b1);
    auto mem = a1->adapter().memory_ptr();
    ASSERT_EQ(mem->free_bufs(), 0u);
    a0.reset(); // pipe 0 goes away; its ring space keeps its old slots
    b0.reset();
    ASSERT_EQ(mem->free_bufs(), 64u);
    a1.reset(); // reopened with extra buffers: they take every free buffer
    PortOptions ox = o;
    ox.extra_bufs = 64;
    a1 = open_ok("pipe:" + name + "{1", ox);
    ASSERT_TRUE(a1);
    ASSERT_EQ(mem->free_bufs(), 0u);
    const std::set<std::uint32_t> extras = extra_list(*a1);
    ASSERT_EQ(extras.size(), 64u);

    auto again = Port::open("pipe:" + name + "{0", o); // no buffer left for its rings
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().message.find("num_bufs"), std::string::npos) << again.error().message;
    EXPECT_EQ(mem->free_bufs(), 0u) << "the failed open freed buffers it never took";

    // Whatever the region hands out next is nobody's buffer yet.
    PortOptions oy = o;
    oy.extra_bufs = 1;
    b1.reset();
    auto b1x = Port::open("pipe:" + name + "}1", oy);
    EXPECT_FALSE(b1x.ok()) << "got an extra buffer from a region that has none free";
    if (b1x.ok()) {
        for (std::uint32_t idx : extra_list(*b1x.value()))
            EXPECT_EQ(extras.count(idx), 0u) << "buffer " << idx << " is on two Ports' extra lists";
    }
    EXPECT_EQ(extra_list(*a1), extras);
}

TEST(Memory, ClosingAPortReturnsItsBuffers) {
    auto name = unique_name("ret");
    PortOptions o = small_opts(16);
    o.extra_bufs = 3;
    auto a = open_ok("pipe:" + name + "{0", o);
    std::uint32_t free_before = a->memory().free_bufs();
    auto mem = a->adapter().memory_ptr();
    {
        auto b = open_ok("pipe:" + name + "{1", o); // a second pipe in the same region
        EXPECT_LT(mem->free_bufs(), free_before);
    }
    EXPECT_EQ(mem->free_bufs(), free_before);
}

// The extra-buffer list lives in memory the application writes (ni_bufs_head
// and each buffer's first word). At close it is walked at most num_bufs
// links, an index outside the region ends it and a buffer listed twice is
// freed once: a scribbled list costs its Port's own buffers, nothing more.
TEST(Memory, AScribbledExtraBufferListEndsSafelyAtClose) {
    auto name = unique_name("xscr");
    PortOptions o = small_opts(16);
    o.extra_bufs = 4;
    auto a = open_ok("pipe:" + name + "{0", o); // keeps the region
    ASSERT_TRUE(a);
    auto mem = a->adapter().memory_ptr();
    std::uint32_t expected = mem->free_bufs();
    for (int variant = 0; variant < 2; variant++) {
        auto b = open_ok("pipe:" + name + "{1", o);
        ASSERT_TRUE(b);
        const std::uint32_t head = b->nifp()->ni_bufs_head;
        ASSERT_TRUE(mem->valid_buf(head));
        std::uint32_t second;
        std::memcpy(&second, mem->buf(head), 4);
        ASSERT_TRUE(mem->valid_buf(second));
        // 0: a cycle of two (head -> second -> head); 1: second links outside the region
        const std::uint32_t link = variant == 0 ? head : 0xfffffff0u;
        std::memcpy(mem->buf(second), &link, 4);
        b.reset(); // must end, and free head and second once each
        // the two unreachable extras are lost to b alone; the region goes on
        expected -= 2;
        EXPECT_EQ(mem->free_bufs(), expected) << "variant " << variant;
    }
}

// Every buffer a Port's rings and extra-buffer list hold.
std::vector<std::uint32_t> held_by(Port& p) {
    std::vector<std::uint32_t> v;
    for (std::uint32_t r = 0; r < p.nifp()->ni_tx_rings; r++)
        for (std::uint32_t i = 0; i < p.tx_ring(r)->num_slots; i++) v.push_back(p.tx_ring(r)->slot[i].buf_idx);
    for (std::uint32_t r = 0; r < p.nifp()->ni_rx_rings; r++)
        for (std::uint32_t i = 0; i < p.rx_ring(r)->num_slots; i++) v.push_back(p.rx_ring(r)->slot[i].buf_idx);
    for (std::uint32_t idx : extra_list(p)) v.push_back(idx);
    return v;
}

// The two ends of a pipe share a region, and an extra-buffer list is memory
// the application writes. A list that names buffers the other end's rings
// hold, its own rings' buffers, the other end's extra buffers, a free
// buffer, a buffer twice (a cycle) or an index outside the region returns
// none of them at close: the region frees only the Port's own extra
// buffers (as many as it took), counts the rest, and no buffer ends up in
// two places. The other end goes on as before.
TEST(Memory, AnExtraListNamingOthersBuffersFreesOnlyItsOwn) {
    for (int variant = 0; variant < 3; variant++) {
        SCOPED_TRACE(variant == 0   ? "the list ends in a cycle"
                     : variant == 1 ? "the list ends outside the region"
                                    : "the list ends in the other end's list");
        const std::string name = unique_name("xown");
        PortOptions o = small_opts(16);
        o.extra_bufs = 6;
        auto a = open_ok("pipe:" + name + "{0", o);
        auto b = open_ok("pipe:" + name + "}0", o);
        ASSERT_TRUE(a && b);
        auto mem = a->adapter().memory_ptr();
        // A free buffer: the extra buffer of a Port that came and went.
        std::uint32_t free_idx;
        {
            PortOptions o1 = small_opts(16);
            o1.extra_bufs = 1;
            auto c = open_ok("pipe:" + name + "{1", o1);
            ASSERT_TRUE(c);
            free_idx = c->nifp()->ni_bufs_head;
        }
        // b sends a few frames to a and keeps them there, so slots of both
        // ends' rings are in every state (sent, received, free).
        for (std::uint64_t i = 0; i < 5; i++) ASSERT_TRUE(put(b->tx_ring(0), i));
        ASSERT_EQ(b->txsync(), 0);
        ASSERT_EQ(a->rxsync(), 0);

        const std::set<std::uint32_t> own = extra_list(*a);
        const std::set<std::uint32_t> b_extra = extra_list(*b);
        ASSERT_EQ(own.size(), 6u);
        // a's list, rewritten: its own six with others' buffers between them.
        std::vector<std::uint32_t> list;
        auto it = own.begin();
        list.push_back(*it++);
        list.push_back(b->tx_ring(0)->slot[0].buf_idx); // a free rx buffer of a, swapped into b's tx ring
        list.push_back(b->tx_ring(0)->slot[9].buf_idx); // a free tx slot of b
        list.push_back(*it++);
        list.push_back(b->rx_ring(0)->slot[3].buf_idx); // b's empty rx ring
        list.push_back(a->rx_ring(0)->slot[2].buf_idx); // a frame a holds
        list.push_back(a->tx_ring(0)->slot[7].buf_idx); // a's own tx ring
        list.push_back(free_idx);
        while (it != own.end()) list.push_back(*it++);
        // The end: back to b's buffer (a cycle), outside the region, or
        // b's last extra buffer (whose link, b's own, ends both lists).
        std::uint32_t last = variant == 0 ? list[1] : 0xfffffff0u;
        if (variant == 2) {
            for (std::uint32_t idx : b_extra) {
                std::uint32_t next;
                std::memcpy(&next, mem->buf(idx), 4);
                if (next == 0) last = idx;
            }
            ASSERT_TRUE(b_extra.count(last));
        }
        std::uint32_t* head = &a->nifp()->ni_bufs_head;
        *head = list[0];
        for (std::size_t i = 0; i < list.size(); i++) {
            const std::uint32_t next = i + 1 < list.size() ? list[i + 1] : last;
            std::memcpy(mem->buf(list[i]), &next, 4);
        }
        const std::uint32_t free_before = mem->free_bufs();
        const std::uint64_t refused_before = mem->refused_bufs();
        a.reset();
        EXPECT_EQ(mem->free_bufs(), free_before + 6) << "only a's own six extra buffers go back";
        EXPECT_EQ(mem->refused_bufs(), refused_before + 7) << "six others' buffers and the end counted";

        // Whatever the region hands out now is nobody's: take every free
        // buffer and look for one in two places.
        auto a2 = open_ok("pipe:" + name + "{0", small_opts(16));
        ASSERT_TRUE(a2);
        PortOptions og = small_opts(16);
        og.extra_bufs = mem->free_bufs() - 64; // the rest of the region, less the rings of pair 1
        auto grab = open_ok("pipe:" + name + "{1", og);
        ASSERT_TRUE(grab);
        std::set<std::uint32_t> seen;
        for (Port* p : {a2.get(), b.get(), grab.get()})
            for (std::uint32_t idx : held_by(*p)) {
                if (idx == 0) continue;
                EXPECT_TRUE(seen.insert(idx).second) << "buffer " << idx << " is in two places";
            }
        EXPECT_EQ(extra_list(*b), b_extra);

        // The other end goes on: frames both ways, contents intact.
        netmap_ring* brx = b->rx_ring(0);
        netmap_ring* arx = a2->rx_ring(0);
        ASSERT_EQ(a2->rxsync(), 0); // the five frames a held before: 0..4 (2 carries a's list link)
        for (std::uint64_t i = 0; i < 5; i++) {
            ASSERT_FALSE(nm_ring_empty(arx));
            if (i != 2) {
                EXPECT_EQ(seq_of(arx, arx->cur), i);
            }
            arx->head = arx->cur = nm_ring_next(arx, arx->cur);
        }
        for (std::uint64_t n = 0; n < 100; n++) {
            ASSERT_TRUE(put(b->tx_ring(0), 1000 + n));
            ASSERT_EQ(b->txsync(), 0);
            ASSERT_EQ(a2->rxsync(), 0);
            ASSERT_FALSE(nm_ring_empty(arx));
            EXPECT_EQ(seq_of(arx, arx->cur), 1000 + n);
            arx->head = arx->cur = nm_ring_next(arx, arx->cur);
            ASSERT_TRUE(put(a2->tx_ring(0), 2000 + n));
            ASSERT_EQ(a2->txsync(), 0);
            ASSERT_EQ(b->rxsync(), 0);
            ASSERT_FALSE(nm_ring_empty(brx));
            EXPECT_EQ(seq_of(brx, brx->cur), 2000 + n);
            brx->head = brx->cur = nm_ring_next(brx, brx->cur);
        }
    }
}

} // namespace
} // namespace upio::test
