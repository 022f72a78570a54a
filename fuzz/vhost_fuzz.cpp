// Fuzz target: the vhost-user message handler and the virtqueue walker, as a
// hostile front end drives them. The input is a program of steps:
//   - a message of any request, flags, size and payload, with 0..8 fds (the
//     guest memory's memfd, or eventfds), handed to Device::handle;
//   - a valid set-up (features, memory table, both queues of pair 0), so
//     the walk is reached, with addresses and sizes taken from the input;
//   - bytes written anywhere in guest memory (descriptors, rings, buffers);
//   - a walk of each running queue as the data path does it: every chain
//     read or written through a ChainCursor, used entries published.
// Checked after every step: every piece of every chain the walk returned
// lies inside a region the device mapped; the walk ends (it is bounded by
// construction; a hang is a finding); no fd leaks (the next descriptor
// number is the same before and after an input). ASan and UBSan watch every
// access.
#include "vhost/device.hpp"
#include "vhost/protocol.hpp"
#include "vhost/virtqueue.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace upio::vhost;

namespace {

class In {
public:
    In(const std::uint8_t* d, std::size_t n) : p_(d), n_(n) {}
    bool empty() const { return n_ == 0; }
    template <class T>
    T get() {
        T v{};
        const std::size_t k = n_ < sizeof v ? n_ : sizeof v;
        std::memcpy(&v, p_, k);
        p_ += k, n_ -= k;
        return v;
    }
    std::uint8_t byte() { return get<std::uint8_t>(); }
    void bytes(void* out, std::size_t len) {
        const std::size_t k = n_ < len ? n_ : len;
        std::memcpy(out, p_, k);
        std::memset(static_cast<char*>(out) + k, 0, len - k);
        p_ += k, n_ -= k;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

constexpr std::size_t mem_size = 256 * 1024;
constexpr std::uint64_t gpa_base = 0x100000, uva_base = 0x7f0000000000;

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "vhost_fuzz: %s\n", what);
    std::abort();
}

struct Guest {
    int fd = -1;
    char* mem = nullptr;
    Guest() {
        fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, mem_size) < 0) finding("memfd");
        mem = static_cast<char*>(mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        if (mem == MAP_FAILED) finding("mmap");
    }
};

Guest& guest() {
    static Guest g;
    return g;
}

bool inside(const Device& dev, const char* p, std::uint32_t len) {
    const GuestMemory& m = dev.memory();
    for (std::uint32_t i = 0; i < m.size(); i++) {
        const GuestRegion& r = m.region(i);
        if (p >= r.host && std::uint64_t(p - r.host) + len <= r.size) return true;
    }
    return false;
}

void message(Device& dev, In& in) {
    Message m;
    const std::uint8_t kind = in.byte();
    m.hdr.request = kind % 24;
    m.hdr.flags = (in.byte() & 3) == 0 ? in.get<std::uint32_t>() : (msg_version | (kind & 0x80 ? msg_need_reply : 0));
    const std::uint16_t size = in.get<std::uint16_t>();
    m.hdr.size = size % (max_payload + 16);
    in.bytes(m.payload, m.hdr.size <= max_payload ? m.hdr.size : max_payload);
    if (!payload_size_ok(m.hdr.size)) return; // the reader refuses these before the handler
    const std::uint8_t nf = in.byte() % (max_fds + 1);
    for (std::uint8_t i = 0; i < nf; i++)
        m.fds[m.nfds++] = (in.byte() & 1) ? ::dup(guest().fd) : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    (void)dev.handle(m); // consumes the fds
}

bool send(Device& dev, Req r, const void* payload, std::uint32_t size, int fd = -1) {
    Message m;
    m.hdr = {std::uint32_t(r), msg_version, size};
    std::memcpy(m.payload, payload, size);
    if (fd >= 0) m.fds[m.nfds++] = fd;
    return bool(dev.handle(m));
}

void setup(Device& dev, In& in) {
    const std::uint64_t f = dev.offered_features() & in.get<std::uint64_t>();
    send(dev, Req::set_features, &f, 8);
    MemTableMsg t{};
    t.nregions = 1;
    const std::uint32_t off = in.get<std::uint16_t>() & ~0xfffu; // page-aligned offset into the file
    t.regions[0] = MemRegionMsg{gpa_base, mem_size - off, uva_base, off};
    if (in.byte() & 1) t.regions[0].size = in.get<std::uint32_t>();
    send(dev, Req::set_mem_table, &t, 8 + 32, ::dup(guest().fd));
    for (std::uint32_t q = 0; q < 2; q++) {
        const std::uint32_t num = 1u << (in.byte() % 10);
        VringState s{q, num};
        send(dev, Req::set_vring_num, &s, 8);
        const std::uint64_t base = uva_base + q * 0x8000;
        VringAddr a{q, 0, base, base + 0x4000, base + 0x2000, 0};
        if (in.byte() & 1) a.desc = uva_base + in.get<std::uint32_t>();
        send(dev, Req::set_vring_addr, &a, sizeof a);
        s = VringState{q, in.get<std::uint16_t>()};
        send(dev, Req::set_vring_base, &s, 8);
        std::uint64_t k = q;
        send(dev, Req::set_vring_kick, &k, 8, eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK)); // kicked already
        s = VringState{q, 1};
        send(dev, Req::set_vring_enable, &s, 8);
    }
}

void write_guest(In& in) {
    const std::uint32_t off = in.get<std::uint32_t>() % mem_size;
    const std::uint32_t len = std::min<std::uint32_t>(in.byte(), std::uint32_t(mem_size - off));
    in.bytes(guest().mem + off, len);
}

// The data path's walk over one queue: q 0 is written (the guest's rx
// queue), q 1 read (its tx queue).
void walk(Device& dev, std::uint32_t qi) {
    static Chain c;
    static char scratch[70000];
    Vring& q = dev.vq(qi);
    std::lock_guard lk(q.mu);
    if (!q.running() && !q.start_if_kicked()) return;
    int pending = q.pending();
    std::uint16_t used = 0;
    while (pending-- > 0) {
        const Walk w = q.walk(dev.memory(), q.last_avail, qi == 0, c);
        if (w == Walk::broken) break;
        if (w == Walk::ok) {
            for (std::uint32_t i = 0; i < c.nsegs; i++)
                if (!inside(dev, c.seg[i].p, c.seg[i].len)) finding("a chain piece outside the guest's regions");
            ChainCursor cur(c);
            const std::uint32_t n = std::uint32_t(std::min<std::uint64_t>(c.bytes, sizeof scratch));
            if (qi == 0)
                cur.write(scratch, n);
            else
                cur.read(scratch, n);
        }
        q.put_used(used++, c.head, 0);
        q.last_avail++;
    }
    q.publish_used(used);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int probe = ::dup(0);
    ::close(probe);
    {
        Device dev(DeviceConfig{1});
        In in(data, size);
        std::memset(guest().mem, 0, mem_size);
        for (int steps = 0; !in.empty() && steps < 256; steps++) {
            switch (in.byte() % 5) {
            case 0: message(dev, in); break;
            case 1: setup(dev, in); break;
            case 2: write_guest(in); break;
            case 3: walk(dev, 0); break;
            case 4: walk(dev, 1); break;
            }
        }
        dev.reset();
    }
    const int after = ::dup(0);
    ::close(after);
    if (after != probe) finding("a file descriptor leaked");
    return 0;
}
