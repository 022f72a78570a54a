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
//
// Every wait is bounded: poll() wakes at least every 100 ms.
#include <cerrno>
#include <chrono>
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
};

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

// Mirror of fill_frame() in tools/upio-vfio-probe.
bool probe_frame_ok(const unsigned char* f, std::size_t n) {
    if (n != 60 || std::memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) != 0 || f[12] != 0x88 || f[13] != 0xb5 ||
        std::memcmp(f + 14, "upio-probe", 10) != 0)
        return false;
    for (unsigned i = 25; i < 60; ++i)
        if (f[i] != static_cast<unsigned char>(i * 7 + f[24]))
            return false;
    return true;
}

void verdict(const Case& c) {
    if (c.name.empty() || c.mode == "none")
        return;
    bool pass = c.mode == "sink"     ? c.received > 0
              : c.mode == "echo"   ? c.sent > 0
              : c.mode == "beacon" ? c.sent > 0
              : c.mode == "probe"  ? c.received > 0 && c.bad == 0
                                   : false;
    std::printf("HOST %s %s mode=%s received=%u sent=%u bad=%u%s%s\n", c.name.c_str(), pass ? "PASS" : "FAIL",
                c.mode.c_str(), c.received, c.sent, c.bad, c.first.empty() ? "" : " first=", c.first.c_str());
    std::fflush(stdout);
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
        ::poll(p, 2, 100);
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
                    cur.mode = mode;
                }
                line.clear();
            }
        }
        if (p[1].revents & POLLIN) {
            unsigned char frame[65536];
            ssize_t n = ::recv(fd, frame, sizeof frame, 0);
            if (n > 0) {
                if (cur.received++ == 0) cur.first = hex(frame, std::size_t(n));
                if (cur.mode == "probe" && !probe_frame_ok(frame, std::size_t(n))) ++cur.bad;
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
