// Dense row-major GEMM in fp32 or fp64 for the side network (src/side/side_net.h), whose
// weights are small trainable fp32/fp64 matrices, unlike the fp16 checkpoint GEMM of
// kernels/gemm.h. OpenBLAS (cblas_?gemm) does the work when the build has it
// (POCKET_HAVE_OPENBLAS); otherwise cache-friendly loops that the compiler vectorises.
//
//   C[M,N] = alpha · op(A) · op(B) + beta · C
//   op(A) = A [M,K] (row stride lda) or, with trans_a, Aᵀ where A is [K,M];
//   op(B) = B [K,N] (row stride ldb) or, with trans_b, Bᵀ where B is [N,K].
// beta = 0 never reads C (it may hold NaN or garbage).
#pragma once

#include <cstdint>

namespace pocket {

template <class T>
void side_gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
               const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
               std::int64_t ldc);

// The plain triple loop (each C element one dot product in k order), held against side_gemm.
template <class T>
void side_gemm_ref(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta,
                   T* C, std::int64_t ldc);

// The loops side_gemm runs without OpenBLAS, exposed so that builds with OpenBLAS test them too.
template <class T>
void side_gemm_loops(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                     T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta,
                     T* C, std::int64_t ldc);

}  // namespace pocket
