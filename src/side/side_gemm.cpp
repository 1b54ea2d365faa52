#include "side/side_gemm.h"

#include <cassert>
#include <climits>

#ifdef POCKET_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace pocket {
namespace {

// C[i, 0..N) = beta · C[i, 0..N) for every row; beta = 0 writes zeros without reading C.
template <class T>
void scale_rows(std::int64_t M, std::int64_t N, T beta, T* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      for (std::int64_t j = 0; j < N; ++j) c[j] = T(0);
    } else if (beta != T(1)) {
      for (std::int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// Σ_k a[k·stride_a] · b[k] with eight independent partial sums (the compiler keeps them in one
// vector register for stride 1; the order is fixed, so results do not depend on the machine).
template <class T>
T dot(const T* a, std::int64_t stride_a, const T* b, std::int64_t K) {
  T part[8] = {};
  std::int64_t k = 0;
  if (stride_a == 1) {
    for (; k + 8 <= K; k += 8) {
      for (int l = 0; l < 8; ++l) part[l] += a[k + l] * b[k + l];
    }
  }
  T sum = T(0);
  for (; k < K; ++k) sum += a[k * stride_a] * b[k];
  for (int l = 0; l < 8; ++l) sum += part[l];
  return sum;
}

}  // namespace

template <class T>
void side_gemm_ref(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta,
                   T* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      T sum = T(0);
      for (std::int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        sum += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * sum : alpha * sum + beta * c;
    }
  }
}

// op(B) = B [K,N]: i-k-j, so the inner loop runs along rows of B and C (unit stride) and
// vectorises. op(B) = Bᵀ: each C element is a dot product of a row of B with row (or, for Aᵀ,
// column) i of A.
template <class T>
void side_gemm_loops(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                     T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta,
                     T* C, std::int64_t ldc) {
  scale_rows(M, N, beta, C, ldc);
  if (K == 0 || alpha == T(0)) return;
  if (!trans_b) {
    for (std::int64_t i = 0; i < M; ++i) {
      T* c = C + i * ldc;
      for (std::int64_t k = 0; k < K; ++k) {
        const T a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
        const T* b = B + k * ldb;
        for (std::int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
    return;
  }
  for (std::int64_t i = 0; i < M; ++i) {
    const T* a = trans_a ? A + i : A + i * lda;
    const std::int64_t stride_a = trans_a ? lda : 1;
    T* c = C + i * ldc;
    for (std::int64_t j = 0; j < N; ++j) c[j] += alpha * dot(a, stride_a, B + j * ldb, K);
  }
}

#ifdef POCKET_HAVE_OPENBLAS

namespace {

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
               const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, double alpha,
               const double* A, int lda, const double* B, int ldb, double beta, double* C,
               int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

template <class T>
void side_gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
               const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
               std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // BLAS would still want valid leading dimensions of empty operands
    scale_rows(M, N, beta, C, ldc);
    return;
  }
  assert(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX);
  assert(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
  // OpenBLAS with beta = 0 stores alpha·AB without reading C.
  blas_gemm(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
            static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
            static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

#else

template <class T>
void side_gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
               const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
               std::int64_t ldc) {
  side_gemm_loops(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

#define POCKET_SIDE_GEMM(T)                                                                     \
  template void side_gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, \
                             std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);        \
  template void side_gemm_ref<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T,       \
                                 const T*, std::int64_t, const T*, std::int64_t, T, T*,         \
                                 std::int64_t);                                                 \
  template void side_gemm_loops<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T,     \
                                   const T*, std::int64_t, const T*, std::int64_t, T, T*,       \
                                   std::int64_t);
POCKET_SIDE_GEMM(float)
POCKET_SIDE_GEMM(double)
#undef POCKET_SIDE_GEMM

}  // namespace pocket
