# Install rules: libupio.a, headers, a CMake package and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS upio upio_deps EXPORT upioTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/upio DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT upioTargets NAMESPACE upio:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
configure_package_config_file(cmake/upioConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/upioConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/upioConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/upioConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/upioConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
file(RELATIVE_PATH UPIO_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
configure_file(cmake/upio.pc.in ${CMAKE_CURRENT_BINARY_DIR}/upio.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/upio.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
