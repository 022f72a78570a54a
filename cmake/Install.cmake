# Install rules: libupio.a, headers, a CMake package and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS upio upio_deps EXPORT upioTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
# upio/models.hpp belongs to upio_models, a build-tree library (test equipment): not installed.
install(DIRECTORY include/upio DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN models.hpp EXCLUDE)
install(FILES ${UPIO_GENERATED_INCLUDE}/upio/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/upio)
install(EXPORT upioTargets NAMESPACE upio:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
configure_package_config_file(cmake/upioConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/upioConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/upioConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/upioConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/upioConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/upio)
file(RELATIVE_PATH UPIO_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
configure_file(cmake/upio.pc.in ${CMAKE_CURRENT_BINARY_DIR}/upio.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/upio.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# upio-setup, with its version filled in (see CMakeLists.txt).
install(PROGRAMS ${UPIO_CONFIGURED_SETUP} DESTINATION ${CMAKE_INSTALL_BINDIR})
# upio-plot: pkt-gen's JSON lines as PNG charts (gnuplot, jq).
install(PROGRAMS scripts/upio-plot DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages, generated from each tool's --help and --version by help2man, with the
# extra sections in cmake/man/*.h2m.
if(UPIO_BUILD_MAN)
  find_program(HELP2MAN help2man)
  if(NOT HELP2MAN)
    message(FATAL_ERROR "help2man is needed for the man pages: install it (scripts/install-deps --build), "
                        "or configure with -DUPIO_BUILD_MAN=OFF")
  endif()
  set(_man ${CMAKE_CURRENT_BINARY_DIR}/man)
  file(MAKE_DIRECTORY ${_man})
  set(_pages)
  # upio_man(PAGE SECTION PROGRAM DEPENDS DESCRIPTION)
  macro(upio_man page section program dep description)
    add_custom_command(
      OUTPUT ${_man}/${page}.${section}
      COMMAND ${HELP2MAN} --no-info --section=${section} --name=${description}
              --include=${CMAKE_CURRENT_SOURCE_DIR}/cmake/man/${page}.h2m --output=${_man}/${page}.${section} ${program}
      DEPENDS ${dep} ${CMAKE_CURRENT_SOURCE_DIR}/cmake/man/${page}.h2m
      COMMENT "man page ${page}(${section})" VERBATIM)
    list(APPEND _pages ${_man}/${page}.${section})
    install(FILES ${_man}/${page}.${section} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endmacro()
  upio_man(pkt-gen 1 $<TARGET_FILE:pkt-gen> pkt-gen "send, receive, check and time packets on upio ports")
  upio_man(upio-switch 1 $<TARGET_FILE:upio-switch> upio-switch "a VALE switch with ports attached")
  upio_man(upio-setup 8 ${UPIO_CONFIGURED_SETUP} ${UPIO_CONFIGURED_SETUP}
           "bind NICs to vfio-pci and reserve hugepages for upio")
  add_custom_target(man ALL DEPENDS ${_pages})
endif()
