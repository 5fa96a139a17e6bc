/*
 * topk.h — bounded selection of the best m (key, id) pairs.
 *
 * Keys are "higher is better" (the driver negates L2SQ distances). The order
 * is the library's one, VS_TOPK_BEFORE (base/topk_order.h): real entries
 * before padding, numbers before NaN, higher keys first, lower ids on ties.
 *
 * The heap keeps its worst entry at the root. Storage is two parallel arrays
 * (keys, ids), the layout of the caller's result rows, so a heap can live
 * directly in the output buffer.
 *
 * Fast path: once the root is a real, non-NaN entry, a candidate can only
 * enter if key > threshold (the root's key); candidates arrive in ascending
 * id order within one heap, so an equal key never wins. While the root is
 * padding or NaN (`open`), every candidate takes the full comparison.
 */
#ifndef VS_CPU_TOPK_H
#define VS_CPU_TOPK_H

#include <stddef.h>
#include <stdint.h>

typedef struct vs__heap {
    float *keys;
    int64_t *ids;
    size_t size; /* m: number of slots, all filled (padding counts) */
    float threshold;
    int open;
} vs__heap;

/* Fills the heap with padding (key -inf, id -1). */
void vs__heap_init(vs__heap *heap, float *keys, int64_t *ids, size_t size);

/* Full comparison insert; used by the fast path below and by merges. */
void vs__heap_insert(vs__heap *heap, float key, int64_t id);

/* Inserts key/id if it beats the worst entry. */
static inline void vs__heap_push(vs__heap *heap, float key, int64_t id) {
    if (!heap->open && !(key > heap->threshold)) return;
    vs__heap_insert(heap, key, id);
}

/* Inserts every real entry of `from` into `into`. */
void vs__heap_merge(vs__heap *into, const vs__heap *from);

/*
 * Sorts the heap best-first in place, then writes `scores`/`ids` rows of
 * length k (k >= size): keys converted back to scores (negated when
 * negate is set), the tail [size, k) padded with id -1 and the padding score.
 * keys/ids of the heap may be the same memory as scores/ids.
 */
void vs__heap_finish(vs__heap *heap, int negate, float padding_score, float *scores, int64_t *ids,
                     size_t k);

#endif /* VS_CPU_TOPK_H */
