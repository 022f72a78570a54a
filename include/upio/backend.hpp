// upio/backend.hpp -- the BACKEND API, all of it: what a port type or a
// driver needs and an application does not (include/upio/backend/):
//
//   backend/adapter.hpp        Adapter, KRing, RingCounters, wake_if_sleeping,
//                              AdapterFactory: the backend contract and its locking
//   backend/memory_region.hpp  MemoryRegion: rings and buffers in one mapping
//   backend/port_type.hpp      PortType, register_port_type: names and factories
//   backend/device.hpp         Device: how a driver reaches hardware
//   backend/iova.hpp           Iova
//   backend/fd.hpp             Fd: an owned file descriptor (sockets, eventfds, memfds)
//
// Applications include the user API (port.hpp, port_name.hpp, netmap_user.h,
// vale.hpp, memory.hpp, error.hpp, pci.hpp), which includes none of these.
// docs/adding-a-port-type.md walks through writing a port type.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/device.hpp>
#include <upio/backend/fd.hpp>
#include <upio/backend/iova.hpp>
#include <upio/backend/memory_region.hpp>
#include <upio/backend/port_type.hpp>
