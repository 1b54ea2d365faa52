// Counts every operator new of the test binary (alloc_counter.cpp replaces the global one), so a
// test can prove that a code path allocates nothing: read the count before and after.
#pragma once

namespace pocket::test {

long allocation_count();

}  // namespace pocket::test
