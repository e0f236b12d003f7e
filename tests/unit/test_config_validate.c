/* Server and client settings: the cross-field checks of srdma_*_config_validate (src/config.c)
 * that no single key's range can express. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define ERRLEN 512

static void assert_err_mentions(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_validate_server(void **state)
{
	struct srdma_server_config s;
	char err[ERRLEN];

	(void)state;
	srdma_server_config_defaults(&s);
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "cert");
	snprintf(s.cert, sizeof(s.cert), "s.pem");
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "key");
	snprintf(s.key, sizeof(s.key), "s.key");
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);
	s.cert[0] = '\0';
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "cert");
	snprintf(s.cert, sizeof(s.cert), "s.pem");

	/* workers 0 is left for the caller to resolve to the core count. */
	s.workers = 0;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);

	/* Fields written directly go through the same bounds as the setter. */
	s.max_clients = 0;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "max_clients: 0 is out of range (1..1000000)");
	s.max_clients = 10;
	s.workers = 257;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "workers");
	s.workers = 1;
	s.tls_min = (enum srdma_tls_version)11;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "tls_min");
	s.tls_min = SRDMA_TLS_1_3;
	s.log_level = 4;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "log_level");
	s.log_level = SRDMA_LOG_INFO;
	s.port = 0;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "port");
	s.port = 1;
	s.bind[0] = '\0';
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "bind");
	memset(s.bind, 'b', sizeof(s.bind));
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "bind");
	snprintf(s.bind, sizeof(s.bind), "0.0.0.0");
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);
	s.heartbeat_ms = 1;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "heartbeat_ms");
	s.heartbeat_ms = 0;
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);
}

static void test_validate_client(void **state)
{
	struct srdma_client_config c;
	char err[ERRLEN];

	(void)state;
	srdma_client_config_defaults(&c);
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "host");
	snprintf(c.host, sizeof(c.host), "server");
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "ca");
	snprintf(c.ca, sizeof(c.ca), "ca.pem");
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);

	/* Mutual TLS: cert and key together or not at all. */
	snprintf(c.cert, sizeof(c.cert), "c.pem");
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "key");
	snprintf(c.key, sizeof(c.key), "c.key");
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
	c.cert[0] = '\0';
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "cert");
	c.key[0] = '\0';
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);

	c.pattern[0] = '\0';
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "pattern");
	snprintf(c.pattern, sizeof(c.pattern), "p");
	c.ping = 2;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "ping");
	c.ping = 1;
	c.size = 0;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "size");
	c.size = 1;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);

	/* heartbeat_ms: 0 (off) or 100 and up, the library's least. */
	c.heartbeat_ms = 99;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "heartbeat_ms");
	c.heartbeat_ms = 0;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
	c.heartbeat_ms = 100;
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate_server),
	    cmocka_unit_test(test_validate_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
