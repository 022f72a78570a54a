// The data path allocates nothing: after the ports are open, streaming
// through a pipe and a VALE switch (syncs, waits that find data, a sync the
// prologue refuses) makes no call to operator new. Counted by replacing the
// global allocation functions in this test binary (not under sanitizers,
// which replace them themselves).
#include "helpers.hpp"

#include <upio/vale.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UPIO_COUNTS_ALLOCATIONS 0
#else
#define UPIO_COUNTS_ALLOCATIONS 1
#endif

namespace {
std::atomic<std::uint64_t> g_news{0};
}

#if UPIO_COUNTS_ALLOCATIONS
void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    const std::size_t al = std::size_t(a);
    if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
// g++ 12 sees operator new inlined as malloc and this free() and warns of a
// mismatch: both are this file's replacements, which do match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

namespace upio::test {
namespace {

// Sends `rounds` batches from `a` to `b` and receives them, with one wait()
// per batch on the receiver (data is always there: no sleep) and one refused
// sync every 100 rounds; returns the frames received.
std::uint64_t stream(Port& a, Port& b, int rounds) {
    netmap_ring* tx = a.tx_ring(0);
    netmap_ring* rx = b.rx_ring(0);
    std::uint64_t got = 0;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 32 && !nm_ring_empty(tx); k++) {
            netmap_slot& s = tx->slot[tx->cur];
            char* f = NETMAP_BUF(tx, s.buf_idx);
            std::memset(f, 0xff, 6);                                     // broadcast
            std::memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);           // a unicast source
            s.len = 60;
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        if (a.txsync() != 0) return got;
        if (b.wait(Direction::rx, std::chrono::seconds(1)) != 1) return got;
        got += nm_ring_space(rx);
        rx->head = rx->cur = rx->tail;
        if (r % 100 == 99) { // a corrupted ring: refused (the error text is formatted), then repaired
            const std::uint32_t h = rx->head;
            rx->head = rx->cur = rx->num_slots + 5;
            if (b.rxsync() != -EINVAL) return got;
            rx->head = rx->cur = h;
        }
        if (b.rxsync() != 0) return got;
    }
    return got;
}

void expect_no_allocation(const std::string& first, const std::string& second) {
#if !UPIO_COUNTS_ALLOCATIONS
    GTEST_SKIP() << "sanitizers replace operator new themselves";
#endif
    auto a = open_ok(first, small_opts(256));
    auto b = open_ok(second, small_opts(256));
    ASSERT_TRUE(a && b);
    ASSERT_EQ(stream(*a, *b, 10), 10u * 32); // warm up: first-use paths
    const std::uint64_t before = g_news.load();
    const std::uint64_t got = stream(*a, *b, 2000);
    const std::uint64_t news = g_news.load() - before;
    EXPECT_EQ(got, 2000u * 32);
    EXPECT_EQ(news, 0u) << "operator new was called on the data path";
}

TEST(NoAllocation, PipeDataPath) {
    std::string n = unique_name("na");
    expect_no_allocation("pipe:" + n + "{0", "pipe:" + n + "}0");
}

TEST(NoAllocation, ValeDataPath) {
    std::string sw = "vale" + unique_name("na");
    expect_no_allocation(sw + ":a", sw + ":b");
}

TEST(NoAllocation, TheCounterSeesAllocations) {
#if !UPIO_COUNTS_ALLOCATIONS
    GTEST_SKIP() << "sanitizers replace operator new themselves";
#endif
    const std::uint64_t before = g_news.load();
    auto* v = new std::vector<int>(100);
    delete v;
    EXPECT_GE(g_news.load() - before, 2u); // this test's own check can fail
}

} // namespace
} // namespace upio::test
