// Pins the calling thread to one CPU, when the machine has it.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <thread>

namespace bench {

inline void pin(int cpu) {
    if (cpu >= int(std::thread::hardware_concurrency())) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

} // namespace bench
