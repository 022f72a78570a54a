// upio/backend/port_type.hpp -- BACKEND API: describing and registering a port type.
//
// A port type is a descriptor: the TYPE its names start with, how it parses
// its own BODY (upio/port_name.hpp gives the whole grammar), which shared
// shorthand suffixes and own options it takes, a one-line syntax for errors
// and docs, and the factory that opens its adapter. The built-in types are
// listed in src/port_types.cpp; register_port_type() adds one at run time:
//
//   upio::PortType t;
//   t.name = "loop";
//   t.syntax = "loop:NAME";
//   t.summary = "a ring pair whose tx feeds its rx";
//   t.open = &open_loop;                       // Result<shared_ptr<Adapter>>(const PortName&, const PortOptions&)
//   upio::register_port_type(std::move(t));
//   auto p = upio::Port::open("loop:a,ring=0");
//
// See docs/adding-a-port-type.md for the whole checklist.
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/port_type.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <upio/backend/adapter.hpp>
#include <upio/error.hpp>
#include <upio/port_name.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upio {

// The netmap shorthand suffixes a type takes after its BODY.
enum Shorthand : unsigned {
    shorthand_none = 0,
    shorthand_ring = 1, // "-N": only where BODY can never end in '-' digits
    shorthand_dir = 2,  // "/T" "/R": only where BODY can never contain '/'
};

struct PortType {
    // TYPE, the text before ':'. For a family, the prefix its members share:
    // "vale" with family = true matches "vale", "vale0", "valeX", "vale_a"
    // (the prefix followed by letters, digits, '_', '.' or '-').
    std::string name;
    bool family = false;
    // One line each, for the unknown-type error and the docs:
    std::string syntax;  // "pipe:NAME{N | pipe:NAME}N"
    std::string summary; // "master / slave end of netmap pipe N"
    unsigned shorthands = shorthand_none;
    // The type's own options besides ring=N, tx, rx: "xdp" (a flag) or
    // "mode=" (takes a value). Any other option is refused while parsing.
    std::vector<std::string> options;
    // Parses BODY (everything between ':' and the first ','); `type` is the
    // text before ':' ("vale0"). Returns how many leading characters of
    // BODY are the type's own, the rest being left to the shorthand parser,
    // or an error that says what is wrong (core prefixes "bad port name
    // 'NAME': "). Pure: no side effects, any input. nullptr: all of BODY,
    // which must not be empty.
    Result<std::size_t> (*parse)(std::string_view type, std::string_view body) = nullptr;
    // Checks the whole parsed name (option values, combinations) where
    // parse cannot. nullptr: nothing more to check.
    Status (*check)(const PortName& name) = nullptr;
    // Opens (or joins) the adapter of a parsed name.
    AdapterFactory open = nullptr;
};

// Adds a port type, or replaces the registered type of the same name (a
// test's model-backed factory for "e1000"). Any thread, any time; names
// parsed before keep the descriptor they were parsed with.
void register_port_type(PortType type);
// Replaces only the factory of the registered type `name`; for a name not
// registered yet, adds a type whose BODY is any non-empty text (no
// shorthand, the shared options only).
void register_port_type(std::string_view name, AdapterFactory open);
// Every registered type, built-in ones first.
std::vector<PortType> registered_port_types();

// A parse hook for types whose BODY is a PCI address (DDDD:BB:DD.F): the
// address ends at the first '-' or '/'.
Result<std::size_t> parse_pci_body(std::string_view type, std::string_view body);

} // namespace upio
