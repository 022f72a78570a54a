// pkt-gen's JSON lines (--json): one object per line. Its first member says
// what the line is ("t": a rate report, "summary", "seq", "rtt", ...), its
// last is "schema", the version of the layout (README, "pkt-gen's JSON
// lines"). Built with nlohmann::json, so every string is escaped; a byte
// that is not UTF-8 (an interface name is any bytes) becomes U+FFFD instead
// of breaking the line. Never on the data path.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>

namespace pktgen {

// Raised when a member changes meaning or goes away (not when one is added).
constexpr int json_schema = 1;

using Json = nlohmann::ordered_json;

inline Json json_line(const char* kind, Json value) {
    Json j;
    j[kind] = std::move(value);
    return j;
}

// The line as printed: "schema" appended last.
inline std::string json_text(Json j) {
    j["schema"] = json_schema;
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace pktgen
