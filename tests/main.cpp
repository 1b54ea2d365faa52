// doctest runner for every unit test. Test files mirror src/: tests/kernels/gemm_test.cpp
// tests src/kernels/gemm*.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
