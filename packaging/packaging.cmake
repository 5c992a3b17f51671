# packaging.cmake -- Debian packages made by CPack (DEB generator), one per component:
#   ashiato-sensor      ashiato-sensor, /etc/ashiato/sensor.ini, its unit, user, state dirs
#   ashiato-aggregator  ashiato-aggregator, /etc/ashiato/aggregator.ini, its unit, user
#   ashiato-cli         ashiato (query, pcap, keygen)
# Build them with:  cmake --build build && (cd build && cpack -G DEB)
# Runtime dependencies come from dpkg-shlibdeps (the libraries the binaries link), plus
# adduser for the maintainer scripts, plus libcurl4 for the cli: `ashiato` dlopens it for its
# HTTP API commands (cli/api_client.h), which dpkg-shlibdeps cannot see. The version is the
# project's (CMakeLists.txt project(VERSION)); ASHIATO_PACKAGE_VERSION (set in CMakeLists.txt,
# also what the binaries print with --version) overrides it (e.g. 0.1.0+site1), as does
# `cpack -D CPACK_PACKAGE_VERSION=...` (the binaries then keep the build's version).
set(PKG_DIR ${CMAKE_CURRENT_LIST_DIR})

install(TARGETS ashiato-sensor RUNTIME DESTINATION bin COMPONENT sensor)
install(FILES ${PKG_DIR}/etc/sensor.ini DESTINATION /etc/ashiato COMPONENT sensor)
install(FILES ${PKG_DIR}/systemd/ashiato-sensor.service DESTINATION /lib/systemd/system COMPONENT sensor)
install(FILES ${CMAKE_SOURCE_DIR}/ansible/README.md DESTINATION share/doc/ashiato-sensor
        RENAME README.rollout.md COMPONENT sensor)
if(TARGET ashiato-aggregator)
  install(TARGETS ashiato-aggregator RUNTIME DESTINATION bin COMPONENT aggregator)
  install(FILES ${PKG_DIR}/etc/aggregator.ini DESTINATION /etc/ashiato COMPONENT aggregator)
  install(FILES ${PKG_DIR}/systemd/ashiato-aggregator.service DESTINATION /lib/systemd/system
          COMPONENT aggregator)
  install(FILES ${CMAKE_SOURCE_DIR}/ansible/README.md DESTINATION share/doc/ashiato-aggregator
          RENAME README.rollout.md COMPONENT aggregator)
endif()
if(TARGET ashiato)
  install(TARGETS ashiato RUNTIME DESTINATION bin COMPONENT cli)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ashiato)
set(CPACK_PACKAGE_VERSION "${ASHIATO_PACKAGE_VERSION}")
set(CPACK_PACKAGE_VENDOR "ashiato")
set(CPACK_PACKAGE_CONTACT "ashiato maintainers <ashiato@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "follows lateral movement inside a campus network")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL sensor aggregator cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
foreach(comp sensor aggregator cli)
  string(TOUPPER ${comp} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME ashiato-${comp})
endforeach()
set(CPACK_COMPONENT_SENSOR_DESCRIPTION
    "ashiato sensor: libpcap capture, sessions, pcap store, CurveZMQ shipping\n"
    "Runs as the system user ashiato-sensor with CAP_NET_RAW/CAP_NET_ADMIN only.")
set(CPACK_COMPONENT_AGGREGATOR_DESCRIPTION
    "ashiato aggregator: receives sensors' sessions, stores them (SQLite, OpenSearch)\n"
    "Runs unprivileged as the system user ashiato-aggregator.")
set(CPACK_COMPONENT_CLI_DESCRIPTION "ashiato command line: keygen, pcap and queries")
set(CPACK_DEBIAN_SENSOR_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_AGGREGATOR_PACKAGE_DEPENDS "adduser, procps")   # /bin/kill for ExecReload
# libcurl.so.4, dlopen'ed (not in NEEDED); 7.19.1: CURLOPT_USERNAME/PASSWORD
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "libcurl4 (>= 7.19.1)")
set(CPACK_DEBIAN_SENSOR_PACKAGE_RECOMMENDS "ashiato-cli, ethtool")
set(CPACK_DEBIAN_AGGREGATOR_PACKAGE_RECOMMENDS "ashiato-cli")
foreach(comp sensor aggregator)
  string(TOUPPER ${comp} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA
      "${PKG_DIR}/deb/${comp}/postinst;${PKG_DIR}/deb/${comp}/prerm;${PKG_DIR}/deb/${comp}/postrm;${PKG_DIR}/deb/${comp}/conffiles")
endforeach()
include(CPack)
