// The registry of port types: the built-in table (src/port_types.cpp, above
// every port type) plus the types registered at run time.
#include <upio/backend/port_type.hpp>

#include <fmt/format.h>

#include <cctype>
#include <memory>
#include <mutex>

namespace upio {

// The built-in port types; defined above every port type (src/port_types.cpp).
std::vector<PortType> builtin_port_types();

namespace {

struct Registry {
    std::mutex mu; // guards types (registration may race with parsing)
    std::vector<std::shared_ptr<const PortType>> types;
};

Registry& registry() {
    static Registry* r = [] {
        auto* g = new Registry; // never destroyed: names may be parsed during exit
        for (PortType& t : builtin_port_types()) g->types.push_back(std::make_shared<const PortType>(std::move(t)));
        return g;
    }();
    return *r;
}

bool family_member(std::string_view rest) {
    for (char c : rest)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
    return true;
}

std::string with_suffixes(const PortType& t) {
    std::string s = t.syntax.empty() ? t.name + ":BODY" : t.syntax;
    if (t.shorthands & shorthand_ring) s += "[-N]";
    if (t.shorthands & shorthand_dir) s += "[/T|/R]";
    return s;
}

} // namespace

// Caller: PortName::parse. An exact name first, then a family whose prefix
// the type starts with.
std::shared_ptr<const PortType> find_port_type(std::string_view type) {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    for (const auto& t : r.types)
        if (t->name == type) return t;
    for (const auto& t : r.types)
        if (t->family && type.starts_with(t->name) && family_member(type.substr(t->name.size()))) return t;
    return nullptr;
}

// "pipe:NAME{N | pipe:NAME}N[-N][/T|/R], valeX:PORT[/T|/R], ... (options after ',': ring=N, tx, rx, ...)"
std::string port_type_list() {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    std::string s;
    for (const auto& t : r.types) s += (s.empty() ? "" : ", ") + with_suffixes(*t);
    return s + " (then options after ',': ring=N, tx, rx and the type's own)";
}

void register_port_type(PortType type) {
    Registry& r = registry();
    auto t = std::make_shared<const PortType>(std::move(type));
    std::lock_guard lk(r.mu);
    for (auto& old : r.types)
        if (old->name == t->name) {
            old = std::move(t);
            return;
        }
    r.types.push_back(std::move(t));
}

void register_port_type(std::string_view name, AdapterFactory open) {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    for (auto& old : r.types)
        if (old->name == name) {
            auto t = std::make_shared<PortType>(*old);
            t->open = open;
            old = std::move(t);
            return;
        }
    auto t = std::make_shared<PortType>();
    t->name = std::string(name);
    t->syntax = fmt::format("{}:NAME", name);
    t->summary = "a port type registered at run time";
    t->open = open;
    r.types.push_back(std::move(t));
}

std::vector<PortType> registered_port_types() {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    std::vector<PortType> v;
    for (const auto& t : r.types) v.push_back(*t);
    return v;
}

} // namespace upio
