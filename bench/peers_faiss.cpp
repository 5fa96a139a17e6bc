// peers_faiss.cpp — a C shim over FAISS's C++ IndexFlatIP / IndexFlatL2 and
// IndexScalarQuantizer (fp16, 8-bit; this libfaiss, 1.7.3, has no QT_bf16).
// Debian's libfaiss-dev ships the c_api headers but not their implementation
// (libfaiss.a has no faiss_* symbols), so the bench calls the C++ classes
// through these four functions. Only the bench uses C++.
#include <faiss/IndexFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/utils/distances.h>

#include <new>

#include "bench.h"

struct bench_faiss_index {
    faiss::Index *index;
};

extern "C" bench_faiss_index *bench_faiss_create(int inner_product, size_t dim, const float *base,
                                                 size_t n) {
    try {
        bench_faiss_index *wrapper = new bench_faiss_index;
        if (inner_product)
            wrapper->index = new faiss::IndexFlatIP((faiss::Index::idx_t)dim);
        else
            wrapper->index = new faiss::IndexFlatL2((faiss::Index::idx_t)dim);
        wrapper->index->add((faiss::Index::idx_t)n, base);
        return wrapper;
    } catch (...) {
        return nullptr;
    }
}

extern "C" bench_faiss_index *bench_faiss_create_sq(int inner_product, int sq, size_t dim,
                                                    const float *base, size_t n) {
    bench_faiss_index *wrapper = nullptr;
    try {
        wrapper = new bench_faiss_index{nullptr};
        const auto type =
            sq == 1 ? faiss::ScalarQuantizer::QT_fp16 : faiss::ScalarQuantizer::QT_8bit;
        wrapper->index = new faiss::IndexScalarQuantizer((faiss::Index::idx_t)dim, type,
                                                         inner_product ? faiss::METRIC_INNER_PRODUCT
                                                                       : faiss::METRIC_L2);
        wrapper->index->train((faiss::Index::idx_t)n, base);
        wrapper->index->add((faiss::Index::idx_t)n, base);
        return wrapper;
    } catch (...) {
        if (wrapper != nullptr) delete wrapper->index;
        delete wrapper;
        return nullptr;
    }
}

extern "C" int bench_faiss_search(bench_faiss_index *wrapper, const float *queries, size_t nq,
                                  size_t k, float *distances, int64_t *labels) {
    try {
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "FAISS labels are 64-bit");
        wrapper->index->search((faiss::Index::idx_t)nq, queries, (faiss::Index::idx_t)k, distances,
                               reinterpret_cast<faiss::Index::idx_t *>(labels));
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" void bench_faiss_free(bench_faiss_index *wrapper) {
    if (wrapper == nullptr) return;
    delete wrapper->index;
    delete wrapper;
}

extern "C" int bench_faiss_blas_threshold(void) {
    return faiss::distance_compute_blas_threshold;
}
