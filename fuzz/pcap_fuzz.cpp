// Fuzz target: pkt-gen's pcap replay loader (-P FILE). The input is the file,
// handed over as /proc/self/fd/N of a memfd (load_pcap opens a path). Any
// file is loaded or refused with a message; every frame loaded holds at
// least an Ethernet header; nothing crashes or reads out of bounds.
#include "pktgen.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int fd = ::memfd_create("pcap-fuzz", MFD_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != ssize_t(size)) {
        std::perror("pcap_fuzz: memfd");
        __builtin_trap();
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    std::vector<std::vector<std::uint8_t>> frames;
    std::string err;
    if (const int rc = pktgen::load_pcap(path, frames, err)) {
        if ((rc != 1 && rc != 2) || err.empty()) __builtin_trap(); // a refusal says why, with its exit status
        return 0;
    }
    if (frames.empty()) __builtin_trap();
    for (const auto& f : frames)
        if (f.size() < 14 || f.size() > pktgen::max_frame) __builtin_trap();
    return 0;
}
