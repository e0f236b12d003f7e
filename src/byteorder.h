/* Network-byte-order loads and stores at any alignment, for the codecs. */
#ifndef SRDMA_BYTEORDER_H
#define SRDMA_BYTEORDER_H

#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

static inline uint16_t srdma__get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return ntohs(v);
}

static inline uint32_t srdma__get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

static inline uint64_t srdma__get_u64(const uint8_t *p)
{
	return (uint64_t)srdma__get_u32(p) << 32 | srdma__get_u32(p + 4);
}

static inline void srdma__put_u16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, sizeof(v));
}

static inline void srdma__put_u32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
}

static inline void srdma__put_u64(uint8_t *p, uint64_t v)
{
	srdma__put_u32(p, (uint32_t)(v >> 32));
	srdma__put_u32(p + 4, (uint32_t)v);
}

#endif
