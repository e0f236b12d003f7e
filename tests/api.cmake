# Targets of the public-API tests (tests/tools/srdma-apitest.c, tests/host/test_api.c).

# The VM scenarios' test program (tests/vm/cases/80-api.sh): <srdma.h> and verbs only.
add_executable(srdma-apitest tests/tools/srdma-apitest.c tests/tools/apitest_util.c
  tests/tools/apitest_serve.c tests/tools/apitest_msgs.c)
target_link_libraries(srdma-apitest PRIVATE srdma PkgConfig::JSONC Threads::Threads)
# Device events (srdma_ctx_async_event) printed as they come, for the port-event scenario.
add_executable(srdma-asyncwatch tests/tools/srdma-asyncwatch.c)
target_link_libraries(srdma-asyncwatch PRIVATE srdma)

# The API's failure paths on a machine without an RDMA device (nothing there opens one).
if(SRDMA_TESTS)
  add_executable(test_api tests/host/test_api.c tests/host/api_harness.c
    tests/host/tls_harness.c)
  target_link_libraries(test_api PRIVATE srdma_private PkgConfig::CMOCKA Threads::Threads)
  add_test(NAME host_api COMMAND test_api)
  # srdma_ctx_reload's contract, on the same listener harness.
  add_executable(test_api_reload tests/host/test_api_reload.c tests/host/api_harness.c
    tests/host/tls_harness.c)
  target_link_libraries(test_api_reload PRIVATE srdma_private PkgConfig::CMOCKA Threads::Threads)
  add_test(NAME host_api_reload COMMAND test_api_reload)
  # TLS 1.3 session resumption, on the same listener harness.
  add_executable(test_api_resume tests/host/test_api_resume.c tests/host/api_harness.c
    tests/host/tls_harness.c)
  target_link_libraries(test_api_resume PRIVATE srdma_private PkgConfig::CMOCKA Threads::Threads)
  add_test(NAME host_api_resume COMMAND test_api_resume)
  add_executable(test_preauth tests/host/test_preauth.c tests/host/tls_harness.c)
  target_link_libraries(test_preauth PRIVATE srdma_private PkgConfig::CMOCKA Threads::Threads)
  add_test(NAME host_preauth COMMAND test_preauth)
  set_tests_properties(host_preauth PROPERTIES
    ENVIRONMENT "SRDMA_TEST_CERTS=${CMAKE_CURRENT_BINARY_DIR}/test-certs;SRDMA_GEN_CERTS=${CMAKE_CURRENT_SOURCE_DIR}/scripts/gen-certs.sh")
  set_tests_properties(host_api host_api_reload host_api_resume PROPERTIES
    ENVIRONMENT "SRDMA_TEST_CERTS=${CMAKE_CURRENT_BINARY_DIR}/test-certs;SRDMA_GEN_CERTS=${CMAKE_CURRENT_SOURCE_DIR}/scripts/gen-certs.sh")
endif()
