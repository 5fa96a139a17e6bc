/* topk.c — heap selection with the total order described in topk.h. */
#include "topk.h"

#include <math.h>

#include "../base/topk_order.h"

/* 1 if (ka, ia) is strictly better than (kb, ib): the library's one order (base/topk_order.h). */
static int better(float ka, int64_t ia, float kb, int64_t ib) {
    return VS_TOPK_BEFORE(ka, ia, kb, ib);
}

static void update_threshold(vs__heap *heap) {
    heap->threshold = heap->keys[0];
    heap->open = heap->ids[0] < 0 || isnan(heap->keys[0]);
}

void vs__heap_init(vs__heap *heap, float *keys, int64_t *ids, size_t size) {
    heap->keys = keys;
    heap->ids = ids;
    heap->size = size;
    for (size_t i = 0; i < size; i++) {
        keys[i] = -INFINITY;
        ids[i] = -1;
    }
    heap->threshold = -INFINITY;
    heap->open = 1;
}

/* Restores the heap (worst at the root) below position `at` among `count`. */
static void sift_down(float *keys, int64_t *ids, size_t count, size_t at) {
    float key = keys[at];
    int64_t id = ids[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= count) break;
        /* pick the worse child */
        if (child + 1 < count && better(keys[child], ids[child], keys[child + 1], ids[child + 1]))
            child++;
        if (!better(key, id, keys[child], ids[child])) break;
        keys[at] = keys[child];
        ids[at] = ids[child];
        at = child;
    }
    keys[at] = key;
    ids[at] = id;
}

void vs__heap_insert(vs__heap *heap, float key, int64_t id) {
    if (heap->size == 0) return;
    if (!better(key, id, heap->keys[0], heap->ids[0])) return;
    heap->keys[0] = key;
    heap->ids[0] = id;
    sift_down(heap->keys, heap->ids, heap->size, 0);
    update_threshold(heap);
}

void vs__heap_merge(vs__heap *into, const vs__heap *from) {
    for (size_t i = 0; i < from->size; i++)
        if (from->ids[i] >= 0) vs__heap_insert(into, from->keys[i], from->ids[i]);
}

void vs__heap_finish(vs__heap *heap, int negate, float padding_score, float *scores, int64_t *ids,
                     size_t k) {
    float *keys = heap->keys;
    int64_t *hids = heap->ids;
    size_t size = heap->size;
    /* Heapsort: pop the worst to the end until sorted best-first. */
    for (size_t end = size; end > 1; end--) {
        float key = keys[0];
        int64_t id = hids[0];
        keys[0] = keys[end - 1];
        hids[0] = hids[end - 1];
        keys[end - 1] = key;
        hids[end - 1] = id;
        sift_down(keys, hids, end - 1, 0);
    }
    for (size_t i = 0; i < size; i++) {
        int64_t id = hids[i];
        float key = keys[i];
        ids[i] = id;
        scores[i] = id < 0 ? padding_score : (negate ? -key : key);
    }
    for (size_t i = size; i < k; i++) {
        scores[i] = padding_score;
        ids[i] = -1;
    }
}
