// netmap's VALE management requests (what vale-ctl sends), answered by the
// VALE daemon (upio-vale) that serves the switch, so that a vale-ctl in one
// process manages the switch that programs in other processes use.
#pragma once

#include "names.hpp"

#include <upio/netmap.h>

namespace upio_netmap {

// VALE_ATTACH "valeX:IF": the daemon serving valeX opens IF (netmap's name,
// as translate_name maps it: "eth0" is netif:eth0, "tap:t0" a tap) and
// attaches it as port valeX:IF (valeX:t0 for "tap:t0").
Result vale_attach(const char* nr_name, nmreq_vale_attach& a);
// VALE_DETACH "valeX:IF": the daemon detaches what vale_attach attached.
Result vale_detach(const char* nr_name, nmreq_vale_detach& d);
// VALE_NEWIF / VALE_DELIF "valeX:NAME": the daemon's persistent port NAME
// on valeX (netmap's persistent interfaces are named alone and attached
// later; upio's live on a switch from the start). `n` may be null (DELIF).
Result vale_newif(const char* nr_name, nmreq_vale_newif* n);
Result vale_delif(const char* nr_name);
// VALE_LIST: this process's switches, then the daemons' switches. By name
// (nr_name "valeX:P"): its switch's and port's index, NM_BDG_NOPORT for a
// port the switch lacks, ENOENT for no such switch. Without a name: the
// first port at or after (nr_bridge_idx, nr_port_idx), named in
// `name_out`; ENOENT ends the walk.
Result vale_list(const char* nr_name, nmreq_vale_list& l, char* name_out);

} // namespace upio_netmap
