// Fuzz target: the port-name parser. Any string is parsed or refused with a
// message; nothing crashes, reads out of bounds or throws.
#include <upio/port_name.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = upio::PortName::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r && r.error().message.empty()) __builtin_trap(); // a refusal says why
    return 0;
}
