# Third-party libraries, all from Debian's packages (see scripts/install-deps).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
pkg_check_modules(LIBPCI REQUIRED IMPORTED_TARGET libpci)
pkg_check_modules(LIBPCAP REQUIRED IMPORTED_TARGET libpcap) # pkt-gen only
find_package(nlohmann_json 3 REQUIRED)                      # pkt-gen's JSON lines and their tests
find_library(NUMA_LIBRARY numa REQUIRED)
find_path(NUMA_INCLUDE_DIR numa.h REQUIRED)
find_library(HUGETLBFS_LIBRARY hugetlbfs REQUIRED)
find_path(HUGETLBFS_INCLUDE_DIR hugetlbfs.h REQUIRED)

# The library's private link set; exported as link-only dependencies.
add_library(upio_deps INTERFACE)
target_include_directories(upio_deps INTERFACE ${NUMA_INCLUDE_DIR} ${HUGETLBFS_INCLUDE_DIR})
target_link_libraries(upio_deps INTERFACE ${HUGETLBFS_LIBRARY} ${NUMA_LIBRARY} PkgConfig::LIBPCI
                      fmt::fmt Threads::Threads)

# Kernel interface ports (src/netif): AF_XDP sockets through libxdp.
pkg_check_modules(LIBXDP REQUIRED IMPORTED_TARGET libxdp libbpf)
target_link_libraries(upio_deps INTERFACE PkgConfig::LIBXDP)
