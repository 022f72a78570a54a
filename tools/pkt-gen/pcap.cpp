// pkt-gen's pcap support through libpcap: replay (-P) and capture (--pcap).
#include "pktgen.hpp"

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pktgen {

struct PcapWriter {
    pcap_t* dead = nullptr;
    pcap_dumper_t* dumper = nullptr;
    std::string path;
    int error = 0; // errno of the first failed write
};

int load_pcap(const std::string& path, std::vector<std::vector<std::uint8_t>>& frames, std::string& err) {
    char ebuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), ebuf);
    if (!p) {
        err = "cannot read pcap file " + path + ": " + ebuf;
        return 2;
    }
    if (pcap_datalink(p) != DLT_EN10MB) {
        pcap_close(p);
        err = path + ": not an Ethernet capture";
        return 2;
    }
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    for (std::uint64_t n = 1; (rc = pcap_next_ex(p, &h, &data)) == 1; n++) {
        if (h->caplen > max_frame) {
            err = fmt::format("{}: frame {} has {} bytes; pkt-gen sends frames of at most {} bytes", path, n,
                              h->caplen, max_frame);
            pcap_close(p);
            return 1;
        }
        if (h->caplen >= 14) frames.emplace_back(data, data + h->caplen);
    }
    if (rc != PCAP_ERROR_BREAK) { // not the end of the file: a read error or a truncated record
        err = path + ": " + pcap_geterr(p);
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    if (frames.empty()) {
        err = path + ": no Ethernet frames in the file";
        return 2;
    }
    return 0;
}

PcapWriter* open_pcap_writer(const std::string& path, std::string& err) {
    auto* w = new PcapWriter;
    w->path = path;
    // Nanosecond time stamps (the file's magic is 0xa1b23c4d): frames a
    // microsecond apart are common at these rates.
    w->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    w->dumper = w->dead ? pcap_dump_open(w->dead, path.c_str()) : nullptr;
    if (!w->dumper) {
        err = "cannot write pcap file " + path + (w->dead ? std::string(": ") + pcap_geterr(w->dead) : "");
        if (w->dead) pcap_close(w->dead);
        delete w;
        return nullptr;
    }
    return w;
}

bool pcap_write(PcapWriter* w, const std::uint8_t* data, std::uint32_t len) noexcept {
    pcap_pkthdr h{};
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    h.ts.tv_sec = now.tv_sec;
    h.ts.tv_usec = decltype(h.ts.tv_usec)(now.tv_nsec); // nanoseconds in a nanosecond file
    h.caplen = h.len = len;
    pcap_dump(reinterpret_cast<u_char*>(w->dumper), &h, data);
    // pcap_dump() reports nothing: the stream's error flag tells
    if (std::ferror(pcap_dump_file(w->dumper))) [[unlikely]] {
        w->error = errno ? errno : EIO;
        return false;
    }
    return true;
}

std::string pcap_error(PcapWriter* w) {
    return "cannot write the capture to " + w->path + ": " + std::strerror(w->error) +
           " (free some space or point --pcap elsewhere)";
}

void close_pcap_writer(PcapWriter* w) {
    if (!w) return;
    pcap_dump_close(w->dumper);
    pcap_close(w->dead);
    delete w;
}

} // namespace pktgen
