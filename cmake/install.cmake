# `cmake --install build --prefix P`: the daemons and tools in P/bin, the client
# library and what it is built on in P/lib, the public headers in P/include/rsdat,
# the CMake package in P/lib/cmake/rsdat (find_package(rsdat)), a pkg-config file, and
# the SLURM scripts in P/share/rsdat/slurm (P/bin/rsdat-slurm links to them).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RSDAT_INSTALLED_LIBRARIES rsdat_proto rsdat_core rsdat_net rsdat_ops rsdat_io rsdat_client)
foreach(lib ${RSDAT_INSTALLED_LIBRARIES})
  string(REPLACE "rsdat_" "" name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name})
endforeach()
install(TARGETS ${RSDAT_INSTALLED_LIBRARIES} EXPORT rsdatTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS rsdat-scheduler rsdat-worker rsdat-status rsdat-ndvi rsdat-ndvi-demo
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The public API: client/include/rsdat, the dtype header and the operation lists.
install(DIRECTORY client/include/rsdat core/include/rsdat ops/include/rsdat
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT rsdatTargets NAMESPACE rsdat:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rsdat)
configure_package_config_file(cmake/rsdatConfig.cmake.in ${CMAKE_BINARY_DIR}/rsdatConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rsdat
                              PATH_VARS CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/rsdatConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/rsdatConfig.cmake ${CMAKE_BINARY_DIR}/rsdatConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rsdat)
configure_file(cmake/rsdat.pc.in ${CMAKE_BINARY_DIR}/rsdat.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/rsdat.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(DIRECTORY deploy/slurm/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rsdat/slurm USE_SOURCE_PERMISSIONS)
install(CODE "file(CREATE_LINK ../${CMAKE_INSTALL_DATADIR}/rsdat/slurm/rsdat-slurm
              \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/rsdat-slurm SYMBOLIC)")
