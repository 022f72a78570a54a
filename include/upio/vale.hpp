// upio/vale.hpp -- VALE: an in-process learning software switch.
//
// A switch is named "valeX" and exists as soon as a port of it is opened:
//
//   auto a = upio::Port::open("vale0:a").value();   // creates vale0 and port a
//   auto b = upio::Port::open("vale0:b").value();   // joins it
//
// and disappears when its last port closes (unless made persistent with
// vale::create_switch). A switch has up to 254 ports. A port joins when it is
// first opened and leaves when its last Port closes; several Ports may open
// one VALE port, one ring pair each ("vale0:a,ring=1" with PortOptions::rings;
// a port name may contain '-': "vale0:p-1" is port "p-1").
//
// ISOLATION. Every VALE port has its own memory region: a client reaches only
// its own rings and buffers, and the switch copies each frame into buffers of
// the destination port. A client that writes garbage into its rings loses its
// own frames; other ports and the switch are not affected.
//
// FORWARDING happens in the sender's txsync, in batches, as in the VALE paper
// (Rizzo & Lettieri, CoNEXT'12): pass 1 looks up the destination of every
// frame of the batch; pass 2 takes each destination ring in turn, reserves
// slots under a short lock, copies outside the lock and publishes in order, so
// several senders fill one receiver concurrently. A full destination ring
// never blocks the sender: the frames that do not fit are dropped and counted
// on the destination (PortStats::drop_no_space). Destination ring of a port
// with several rx rings: the sender's tx ring index modulo their number.
//
// FRAMES. A frame is one slot or a chain of slots with NS_MOREFRAG set on all
// but the last; it is forwarded whole, up to max_frame_len bytes. A frame
// larger than a destination buffer spans several destination slots, chained
// with NS_MOREFRAG. Buffer size is per port (PortOptions::memory.buf_size),
// so a port with 2 KiB buffers and one with 9088-byte buffers can exchange
// 9018-byte jumbo frames. A chain not yet ended at head waits in the ring
// until the client completes it.
//
// LOOKUP. By default a learning bridge: the source MAC is learned on the
// source port (unless the slot has NS_NO_LEARN), a known unicast destination
// goes to its port, broadcast, multicast and unknown unicast go to every other
// port, an entry moves with its host and ages out after SwitchConfig::aging.
// A frame is never sent back to the port it came from. vale::set_lookup
// replaces the bridge with any callable (netmap's bdg_regops).
#pragma once

#include <upio/error.hpp>
#include <upio/port.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace upio::vale {

inline constexpr std::uint32_t max_ports = 254;
// Results of a lookup besides a port index (0..max_ports-1).
inline constexpr std::uint32_t broadcast = 254; // every port but the source
inline constexpr std::uint32_t drop = 255;      // nowhere
// Largest frame forwarded, in bytes (a chain of slots).
inline constexpr std::uint32_t max_frame_len = 65535;
// Shortest frame forwarded: an Ethernet header.
inline constexpr std::uint32_t min_frame_len = 14;

using Mac = std::array<std::uint8_t, 6>;

struct SwitchConfig {
    // How long a learned address stays valid without traffic from it;
    // zero: forever (as in netmap).
    std::chrono::milliseconds aging{std::chrono::seconds(300)};
};

// What a lookup sees of one frame.
struct FrameInfo {
    const std::uint8_t* data; // first slot of the frame (>= min_frame_len bytes)
    std::uint32_t len;        // bytes in the first slot
    std::uint32_t frame_len;  // bytes in the whole frame
    std::uint32_t src_port;   // index of the port that sent it
    std::uint32_t src_ring;   // its tx ring
    std::uint16_t flags;      // the first slot's NS_* flags
};

// A lookup returns a port index, `broadcast` or `drop`. It runs in the
// sender's thread, possibly in several senders at once, while the switch's
// membership is fixed: it must be thread-safe and must not open or close
// ports of its switch. It must not throw (the data path is noexcept).
// Returning the source port or an index with no port drops the frame.
using Lookup = std::function<std::uint32_t(const FrameInfo&)>;

// Counters of one port. "tx" is what the port's client sent into the switch,
// "rx" what the switch delivered to it.
struct PortStats {
    std::uint64_t tx_packets = 0;      // frames accepted from the client (after lookup)
    std::uint64_t tx_bytes = 0;
    std::uint64_t rx_packets = 0;      // frames copied into the port's rx rings
    std::uint64_t rx_bytes = 0;
    std::uint64_t drop_no_space = 0;   // frames for this port dropped: its rx ring was full
    std::uint64_t drop_filtered = 0;   // frames from this port the lookup sent nowhere
    std::uint64_t drop_malformed = 0;  // frames from this port too short, too long or with bad slots
    std::uint64_t prologue_errors = 0; // syncs of this port the validation prologue refused
};

// The counters as a table, for printing: {"tx_packets", &PortStats::tx_packets}, ...
struct StatField {
    std::string_view name;
    std::uint64_t PortStats::*field;
};
inline constexpr StatField stat_fields[] = {
    {"tx_packets", &PortStats::tx_packets},         {"tx_bytes", &PortStats::tx_bytes},
    {"rx_packets", &PortStats::rx_packets},         {"rx_bytes", &PortStats::rx_bytes},
    {"drop_no_space", &PortStats::drop_no_space},   {"drop_filtered", &PortStats::drop_filtered},
    {"drop_malformed", &PortStats::drop_malformed}, {"prologue_errors", &PortStats::prologue_errors},
};

struct PortInfo {
    std::uint32_t index = 0; // what lookups return for this port
    std::string name;        // "vale0:a"
    std::uint32_t tx_rings = 0, rx_rings = 0, tx_slots = 0, rx_slots = 0;
    std::uint32_t buf_size = 0;
    std::string attached;    // the port attached with vale::attach, if any
    bool back_pressure = false; // see set_back_pressure()
    PortStats stats;
};

struct SwitchInfo {
    std::string name;        // "vale0"
    bool persistent = false; // made by create_switch: stays without ports
    bool custom_lookup = false;
    SwitchConfig config;
    std::vector<PortInfo> ports;
};

struct MacEntry {
    Mac mac;
    std::uint32_t port = 0;
    std::string port_name;
    std::chrono::milliseconds age{0}; // since the address was last seen
};

// -- control path; `sw` is a switch name ("vale0"), `port` a port name ("vale0:a")

// The switch and the port a VALE port name names: {"vale0", "a"} for
// "vale0:a/T"; an error for a name that is not a VALE port's.
struct PortAddress {
    std::string sw;
    std::string port;
};
Result<PortAddress> parse_port_name(std::string_view name);

// Names of the existing switches.
std::vector<std::string> list_switches();
Result<SwitchInfo> describe(std::string_view sw);
Result<PortStats> port_stats(std::string_view port);
// Index of a port within its switch (for lookups).
Result<std::uint32_t> port_index(std::string_view port);
// Live (not aged-out) entries of the learning bridge.
Result<std::vector<MacEntry>> mac_table(std::string_view sw);
Status flush_mac_table(std::string_view sw);

// Creates a switch that stays when it has no ports; EEXIST if it exists.
Status create_switch(std::string_view sw, const SwitchConfig& cfg = {});
// Removes a persistent switch; EBUSY while it has ports.
Status destroy_switch(std::string_view sw);
Status configure(std::string_view sw, const SwitchConfig& cfg);
// Back-pressure on the frames sent to `port` (off by default, as netmap's
// VALE). Off: a frame whose destination rx ring is full is dropped and
//   counted (PortStats::drop_no_space); a sender never waits for a slow
//   receiver, and a receiver that stops reading costs nobody else.
// On: a sender's txsync leaves such a frame, and every frame after it, in
//   the sender's own tx ring (as a pipe does) until `port` releases slots;
//   its rxsync then wakes a sender that sleeps in wait(). Nothing sent to
//   `port` is lost, but while it does not read, every sender with a frame
//   for it (a broadcast: every sender) stalls. Frames that could never fit
//   its ring are still dropped. For a receiver that must see every frame
//   (a sequence check, a capture, a lossless flow); not for a port whose
//   reader may stop or fall far behind.
// The setting belongs to the open port: it ends when the port closes.
Status set_back_pressure(std::string_view port, bool on);
// Replaces the learning bridge; an empty function restores it. Waits for
// forwarding in progress to finish.
Status set_lookup(std::string_view sw, Lookup lookup);

// -- attaching other ports (netmap's `vale-ctl -a`)
//
// An Attachment joins any upio port -- a pipe end, another switch's port, a
// NIC once its driver exists -- to a switch as the switch port `vale_port`.
// Frames the attached port receives enter the switch as if its client had
// sent them (one copy, straight from the attached port's rx buffers into the
// destination's); frames the switch sends to `vale_port` are copied into the
// attached port's tx ring (a second copy: the switch port's rx ring sits in
// its own region). Nothing runs by itself: the owner calls poll() from one
// thread, in a loop or when the attached port's descriptors are ready.
class Attachment {
public:
    // Opens `vale_port` ("vale0:nic") and `port` ("pipe:x}0") and joins them.
    static Result<std::unique_ptr<Attachment>> attach(std::string_view vale_port, std::string_view port,
                                                      const PortOptions& opts = {});
    ~Attachment();
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;

    // Moves what is ready in both directions; returns the slots moved (0:
    // nothing to do) or a negative errno from a sync of either port.
    int poll() noexcept;
    // Frames on their way out that wait for room: in the switch port's rx
    // ring (the attached port's tx ring was full) or in the attached port's
    // tx ring (its port has not taken them yet, e.g. a pipe whose peer has
    // not released room). An owner about to sleep retries soon when true.
    bool egress_pending() noexcept;
    Port& switch_port() noexcept { return *vale_; }
    Port& attached_port() noexcept { return *other_; }
    // Frames the attached port's tx ring had no room for stay in the switch
    // port's rx ring until the next poll(); when that fills too, the switch
    // drops and counts them (drop_no_space of the switch port). A frame that
    // needs more slots than the attached port's tx ring has (its buffers are
    // smaller) is dropped and counted in that ring's drops
    // (attached_port().counters(Direction::tx).drops), as is a frame whose
    // tx slots there carry buffers outside the region (a pipe's far end that
    // wrote rx slots it did not own).

private:
    Attachment() = default;
    std::unique_ptr<Port> vale_, other_;
};

} // namespace upio::vale
