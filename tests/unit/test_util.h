/* Small helpers the unit tests share. Include after <cmocka.h>. */
#ifndef SRDMA_TEST_UTIL_H
#define SRDMA_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Exactly n bytes from 2n hex digits (a test vector). */
static inline void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};

		out[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
}

#endif
