// float32 → bfloat16 as TensorCore's BFloat16.round does it, for the C loops that write bfloat16.
#ifndef CAPTIONER_ROUNDING_H
#define CAPTIONER_ROUNDING_H

#include <stdint.h>
#include <string.h>

/// Round to nearest even; NaN stays a (quiet) NaN.
static inline uint16_t bfloat16(float value) {
    uint32_t u;
    memcpy(&u, &value, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

#endif
