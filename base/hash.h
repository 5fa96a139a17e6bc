/*
 * hash.h — 64-bit FNV-1a, for cache keys, temporary names and checksums
 * (not cryptographic). Bottom layer, base/.
 */
#ifndef VS_BASE_HASH_H
#define VS_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VS_FNV1A_SEED 0xcbf29ce484222325ull
static inline uint64_t vs__fnv1a(uint64_t hash, const void *data, size_t size) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

/* Adds a string and a separator, so that "ab" + "c" and "a" + "bc" differ. */
static inline uint64_t vs__fnv1a_field(uint64_t hash, const char *s) {
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return vs__fnv1a(vs__fnv1a(hash, s, n), "|", 1);
}

#endif /* VS_BASE_HASH_H */
