/* Packet Sequence Numbers from the CSPRNG. */
#include "psn.h"

#include "crypto.h"
#include "wire.h"

int srdma_psn_generate(uint32_t *out)
{
	uint32_t v;
	int ret;

	/* Four random bytes masked to 24 bits rather than three bytes assembled: 2^24 divides 2^32,
	 * so every PSN has exactly 256 preimages and the mask adds no bias, and the code matches
	 * the "RAND_bytes & 0xFFFFFF" rule in the design word for word. */
	ret = srdma_crypto_random(&v, sizeof(v));
	if (ret)
		return ret;
	*out = v & SRDMA_PSN_MASK;
	return 0;
}

int srdma_psn_valid(uint32_t psn)
{
	return (psn & ~SRDMA_PSN_MASK) == 0;
}
