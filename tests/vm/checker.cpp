// upio-vm-checker -- the host end of the guest NIC's wire.
//
// QEMU runs the guest NIC with "-netdev dgram" over unix sockets: every frame
// the guest transmits arrives here as one datagram, and every datagram we
// send to QEMU's socket is received by the NIC. The harness (run-vm.sh)
// feeds us, on stdin, the case the guest is running:
//
//   case NAME MODE    a guest case begins; MODE says what the host does
//   end               the VM has stopped
//
// and we print one verdict per case that has a host part:
//
//   HOST NAME PASS|FAIL detail
//
// Modes (add one here and name it in a case's "# host:" line):
//   none     ignore the wire
//   sink     expect at least one frame from the guest; reports the first
//   echo     send every frame back with source and destination swapped;
//            PASS when at least one was echoed
//   probe    expect frames from "upio-vfio-probe tx", byte-exact: PASS when at
//            least one arrived and every one matched (a wrong IOVA shows up
//            as a zero-filled frame, so the bytes are compared, not counted)
//   beacon   send a test frame (ethertype 0x88b5, payload "upio-vm-beacon N")
//            every 100 ms; PASS when at least one was sent
//   pong     like echo, but for pkt-gen's UDP frames: each must be a valid
//            Ethernet/IPv4/UDP frame (checksums) and goes back with MACs, IPs
//            and ports swapped; PASS when at least one was answered and none
//            was invalid
//   seqsink:N:LO-HI
//            expect exactly N frames from "pkt-gen -f txseq -l LO-HI" (stream
//            0), in order: frame n carries sequence number n at byte 42, is
//            LO + n % (HI-LO+1) bytes long and equal, from byte 12 on, to the
//            frame pkt-gen builds (headers, checksums, payload pattern)
//   seqsource:N:LO-HI
//            send N such frames (sequence 0..N-1, to the guest's MAC
//            52:54:00:12:34:56), as fast as QEMU takes them: the unix socket
//            pushes back (EAGAIN) while the guest NIC has no free descriptor,
//            so nothing is dropped on the way; PASS when all N were sent.
//            Starts 5 s after the case does, when the guest has the NIC open
//
// Every wait is bounded: poll() wakes at least every 100 ms.
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

struct Case {
    std::string name, mode = "none";
    unsigned received = 0, sent = 0, bad = 0;
    std::string first; // first received frame, hex, truncated
    // seqsink / seqsource
    unsigned count = 0, lo = 60, hi = 60;
    unsigned out_of_order = 0, pushback = 0;
    std::string problem; // the first thing that was wrong
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// seqsource starts this long after the case: frames that reach QEMU before the
// guest's pkt-gen has opened the NIC are lost in its reset (2-4 seen).
constexpr auto seqsource_delay = std::chrono::seconds(5);

sockaddr_un unix_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    return a;
}

std::string hex(const unsigned char* p, std::size_t n) {
    std::string s;
    char b[4];
    for (std::size_t i = 0; i < n && i < 64; ++i) {
        std::snprintf(b, sizeof b, "%02x", p[i]);
        s += b;
    }
    return s;
}

// Mirror of fill_frame() in tests/vm/probe/main.cpp.
bool probe_frame_ok(const unsigned char* f, std::size_t n) {
    if (n != 60 || std::memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) != 0 || f[12] != 0x88 || f[13] != 0xb5 ||
        std::memcmp(f + 14, "upio-probe", 10) != 0)
        return false;
    for (unsigned i = 25; i < 60; ++i)
        if (f[i] != static_cast<unsigned char>(i * 7 + f[24]))
            return false;
    return true;
}

// -- pkt-gen's frames (mirror of tools/pkt-gen/frame.cpp, write_frame and
// verify_frame, with its default addresses: 10.0.0.1:1234 -> 10.1.0.1:4321)
unsigned get16(const unsigned char* p) { return unsigned(p[0]) << 8 | p[1]; }
void put16(unsigned char* p, unsigned v) {
    p[0] = static_cast<unsigned char>(v >> 8);
    p[1] = static_cast<unsigned char>(v);
}
unsigned csum_fold(const unsigned char* d, std::size_t n, std::uint32_t sum = 0) {
    std::size_t i = 0;
    for (; i + 1 < n; i += 2) sum += get16(d + i);
    if (i < n) sum += std::uint32_t(d[i]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}
std::uint32_t pseudo_sum(const unsigned char* ip, unsigned udp_len) {
    std::uint32_t sum = 0;
    for (int i = 12; i < 20; i += 2) sum += get16(ip + i);
    return sum + 17 + udp_len;
}
// pkt-gen's frame number `seq` of `size` bytes (bytes 0..11, the MACs, left zero)
// `stamp`: the 10 bytes after the sequence number of a received frame
// (pkt-gen's send time and its clock tag, which the checker cannot know),
// copied in; null: none, as a seqsource sends.
void pktgen_frame(unsigned char* p, std::size_t size, std::uint64_t seq, const unsigned char* stamp = nullptr) {
    std::memset(p, 0, size);
    put16(p + 12, 0x0800);
    unsigned char* ip = p + 14;
    const unsigned ip_len = unsigned(size - 14);
    ip[0] = 0x45;
    put16(ip + 2, ip_len);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 17;
    const unsigned char addrs[8] = {10, 0, 0, 1, 10, 1, 0, 1};
    std::memcpy(ip + 12, addrs, 8);
    put16(ip + 10, ~csum_fold(ip, 20) & 0xffff);
    unsigned char* udp = ip + 20;
    const unsigned udp_len = ip_len - 20;
    put16(udp, 1234);
    put16(udp + 2, 4321);
    put16(udp + 4, udp_len);
    for (std::size_t i = 42; i < size; i++) p[i] = static_cast<unsigned char>('a' + (i - 42) % 26);
    std::memcpy(p + 42, &seq, 8); // host byte order, as pkt-gen writes it
    if (stamp && size >= 60) std::memcpy(p + 50, stamp, 10);
    unsigned c = ~csum_fold(udp, udp_len, pseudo_sum(ip, udp_len)) & 0xffff;
    put16(udp + 6, c == 0 ? 0xffff : c);
}
bool udp_frame_ok(const unsigned char* f, std::size_t n) {
    if (n < 42 || get16(f + 12) != 0x0800) return false;
    const unsigned char* ip = f + 14;
    if (ip[0] != 0x45 || ip[9] != 17) return false;
    const unsigned ip_len = get16(ip + 2);
    if (ip_len < 28 || 14 + ip_len > n || csum_fold(ip, 20) != 0xffff) return false;
    const unsigned char* udp = ip + 20;
    const unsigned udp_len = get16(udp + 4);
    if (udp_len != ip_len - 20) return false;
    return get16(udp + 6) == 0 || csum_fold(udp, udp_len, pseudo_sum(ip, udp_len)) == 0xffff;
}
std::size_t seq_size(const Case& c, std::uint64_t n) { return c.lo + std::size_t(n % (c.hi - c.lo + 1)); }

// "seqsink:N:LO-HI" -> mode seqsink, count N, sizes LO..HI
void parse_mode(Case& c, const std::string& spec) {
    c.mode = spec.substr(0, spec.find(':'));
    unsigned n = 0, lo = 0, hi = 0;
    if (std::sscanf(spec.c_str() + c.mode.size(), ":%u:%u-%u", &n, &lo, &hi) == 3 && lo >= 60 && lo <= hi &&
        hi <= 9018) {
        c.count = n, c.lo = lo, c.hi = hi;
    } else if (c.mode == "seqsink" || c.mode == "seqsource") {
        c.problem = "bad mode " + spec + " (want " + c.mode + ":N:LO-HI)";
    }
}

void verdict(const Case& c) {
    if (c.name.empty() || c.mode == "none")
        return;
    bool pass = c.mode == "sink"     ? c.received > 0
              : c.mode == "echo"   ? c.sent > 0
              : c.mode == "beacon" ? c.sent > 0
              : c.mode == "probe"  ? c.received > 0 && c.bad == 0
              : c.mode == "pong"   ? c.sent > 0 && c.bad == 0
              : c.mode == "seqsink"
                  ? c.count > 0 && c.received == c.count && c.bad == 0 && c.out_of_order == 0 && c.problem.empty()
              : c.mode == "seqsource" ? c.count > 0 && c.sent == c.count && c.problem.empty()
                                      : false;
    std::printf("HOST %s %s mode=%s received=%u sent=%u bad=%u", c.name.c_str(), pass ? "PASS" : "FAIL",
                c.mode.c_str(), c.received, c.sent, c.bad);
    if (c.count) std::printf(" expected=%u out_of_order=%u pushback=%u", c.count, c.out_of_order, c.pushback);
    if (!c.problem.empty()) std::printf(" problem=\"%s\"", c.problem.c_str());
    std::printf("%s%s\n", c.first.empty() ? "" : " first=", c.first.c_str());
    std::fflush(stdout);
}

// seqsink: judge one frame from the guest.
void seqsink_frame(Case& c, const unsigned char* f, std::size_t n) {
    char msg[200];
    const std::uint64_t want = c.received - 1; // this is frame number `want`
    std::uint64_t seq = 0;
    if (n >= 50) std::memcpy(&seq, f + 42, 8);
    if (n < 50 || seq != want) {
        ++c.out_of_order;
        if (c.problem.empty()) {
            std::snprintf(msg, sizeof msg, "frame %llu has sequence %llu (%zu bytes)", (unsigned long long)want,
                          (unsigned long long)seq, n);
            c.problem = msg;
        }
    }
    static unsigned char ref[9018];
    const std::size_t len = seq_size(c, seq);
    bool ok = udp_frame_ok(f, n) && n == len;
    if (ok) {
        pktgen_frame(ref, len, seq, f + 50);
        ok = std::memcmp(f + 12, ref + 12, len - 12) == 0;
    }
    if (!ok) {
        ++c.bad;
        if (c.problem.empty()) {
            std::snprintf(msg, sizeof msg, "frame %llu (%zu bytes, expected %zu) is not the one pkt-gen built",
                          (unsigned long long)seq, n, len);
            c.problem = msg;
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string sock, peer;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--socket") sock = argv[i + 1];
        else if (a == "--peer") peer = argv[i + 1];
    }
    if (sock.empty() || peer.empty()) {
        std::fprintf(stderr, "usage: upio-vm-checker --socket PATH --peer QEMU_PATH < control\n");
        return 2;
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ::unlink(sock.c_str());
    sockaddr_un me = unix_addr(sock), them = unix_addr(peer);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
        std::fprintf(stderr, "upio-vm-checker: cannot bind %s: %s\n", sock.c_str(), std::strerror(errno));
        return 1;
    }
    Case cur;
    std::string line;
    unsigned seq = 0;
    auto last_beacon = std::chrono::steady_clock::now();
    bool input_open = true;
    while (input_open) {
        pollfd p[2] = {{0, POLLIN, 0}, {fd, POLLIN, 0}};
        // seqsource with frames left: come back soon (QEMU's socket may be full)
        const bool sending = cur.mode == "seqsource" && cur.problem.empty() && cur.sent < cur.count &&
                             std::chrono::steady_clock::now() - cur.started >= seqsource_delay;
        ::poll(p, 2, sending ? 1 : 100);
        // Control first, so a frame is judged under the case the guest is in.
        if (p[0].revents) {
            char buf[512];
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n <= 0) input_open = false;
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] != '\n') { line += buf[i]; continue; }
                char name[128] = "", mode[64] = "none";
                if (line == "end") input_open = false;
                else if (std::sscanf(line.c_str(), "case %127s %63s", name, mode) >= 1) {
                    verdict(cur);
                    cur = Case{};
                    cur.name = name;
                    parse_mode(cur, mode);
                }
                line.clear();
            }
        }
        // Drain what is queued: the socket holds only net.unix.max_dgram_qlen
        // (10) frames, and QEMU drops a guest's frames once its own queue is full.
        for (int k = 0; k < 1024 && (p[1].revents & POLLIN); ++k) {
            static unsigned char frame[65536];
            ssize_t n = ::recv(fd, frame, sizeof frame, MSG_DONTWAIT);
            if (n < 0) break;
            if (n > 0) {
                if (cur.received++ == 0) cur.first = hex(frame, std::size_t(n));
                if (cur.mode == "probe" && !probe_frame_ok(frame, std::size_t(n))) ++cur.bad;
                if (cur.mode == "seqsink") seqsink_frame(cur, frame, std::size_t(n));
                if (cur.mode == "pong") {
                    if (!udp_frame_ok(frame, std::size_t(n))) {
                        ++cur.bad;
                    } else { // MACs, IPv4 addresses, UDP ports: checksums stay valid
                        unsigned char t[6];
                        std::memcpy(t, frame, 6), std::memcpy(frame, frame + 6, 6), std::memcpy(frame + 6, t, 6);
                        std::memcpy(t, frame + 26, 4), std::memcpy(frame + 26, frame + 30, 4),
                            std::memcpy(frame + 30, t, 4);
                        std::memcpy(t, frame + 34, 2), std::memcpy(frame + 34, frame + 36, 2),
                            std::memcpy(frame + 36, t, 2);
                        if (::sendto(fd, frame, std::size_t(n), 0, reinterpret_cast<sockaddr*>(&them), sizeof them) ==
                            n)
                            ++cur.sent;
                    }
                }
                if (cur.mode == "echo" && n >= 12) {
                    unsigned char tmp[6];
                    std::memcpy(tmp, frame, 6);
                    std::memcpy(frame, frame + 6, 6);
                    std::memcpy(frame + 6, tmp, 6);
                    if (::sendto(fd, frame, std::size_t(n), 0, reinterpret_cast<sockaddr*>(&them), sizeof them) == n)
                        ++cur.sent;
                }
            }
        }
        // seqsource: as many frames as the socket takes, then back to poll()
        for (int k = 0; k < 256 && cur.mode == "seqsource" && cur.problem.empty() && cur.sent < cur.count &&
                        std::chrono::steady_clock::now() - cur.started >= seqsource_delay;
             ++k) {
            static unsigned char f[9018];
            const std::size_t len = seq_size(cur, cur.sent);
            pktgen_frame(f, len, cur.sent);
            const unsigned char dst[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}; // run-vm.sh's MAC
            const unsigned char src[6] = {0x02, 0, 0, 0, 0, 0xee};
            std::memcpy(f, dst, 6), std::memcpy(f + 6, src, 6);
            ssize_t r = ::sendto(fd, f, len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&them), sizeof them);
            if (r == ssize_t(len)) {
                ++cur.sent;
                continue;
            }
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
                ++cur.pushback;
            } else if (r < 0 && (errno == ENOENT || errno == ECONNREFUSED)) {
                // QEMU's socket is not there (yet): try again on the next round
            } else {
                cur.problem = std::string("sendto: ") + (r < 0 ? std::strerror(errno) : "short write");
            }
            break;
        }
        auto now = std::chrono::steady_clock::now();
        if (cur.mode == "beacon" && now - last_beacon >= std::chrono::milliseconds(100)) {
            last_beacon = now;
            std::vector<unsigned char> f(60, 0);
            std::memset(f.data(), 0xff, 6);
            const unsigned char src[6] = {0x02, 0, 0, 0, 0, 0x01};
            std::memcpy(f.data() + 6, src, 6);
            f[12] = 0x88; f[13] = 0xb5;
            std::snprintf(reinterpret_cast<char*>(f.data() + 14), 40, "upio-vm-beacon %u", seq++);
            if (::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&them), sizeof them) > 0)
                ++cur.sent;
        }
    }
    verdict(cur);
    ::close(fd);
    ::unlink(sock.c_str());
    return 0;
}
