// Command-line checks shared by the tools: a number's lower bound, said in
// words ("must be 0 or more") rather than as CLI11's range to DBL_MAX.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <string>

namespace upio::tools {

// A number >= lo (or > lo when `strict`).
inline CLI::Validator at_least(double lo, bool strict = false) {
    const std::string bound = (strict ? "more than " : "") + fmt::format("{}", lo) + (strict ? "" : " or more");
    return CLI::Validator(
        [lo, strict, bound](std::string& s) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            if (s.empty() || end != s.c_str() + s.size() || v != v) return "'" + s + "' is not a number";
            if (strict ? v <= lo : v < lo) return "'" + s + "' must be " + bound;
            return {};
        },
        "NUMBER (" + bound + ")");
}

} // namespace upio::tools
