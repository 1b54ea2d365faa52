// Row-parallel loops for the kernels whose rows are independent (norms, softmax, RoPE,
// element-wise ops): [0, rows) is cut into blocks of a fixed size and the blocks are run on the
// caller's pool. The blocks depend only on the sizes, never on the thread count, and every row is
// computed from its own inputs alone, so results are bit-identical for any number of threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/thread_pool.h"

namespace pocket {

// Floats of work per task: large enough to pay for handing a task out (about a microsecond),
// small enough to keep a few threads balanced. Jobs below one grain run inline on the caller.
inline constexpr std::int64_t kParallelGrain = std::int64_t{1} << 14;

// Calls fn(begin, end) over [0, rows) in blocks; row_cost is the floats touched per row.
template <class F>
void parallel_rows(ThreadPool& pool, std::int64_t rows, std::int64_t row_cost, F&& fn) {
  if (rows <= 0) return;
  const std::int64_t rows_per_task =
      std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(row_cost, 1));
  const std::int64_t n_tasks = (rows + rows_per_task - 1) / rows_per_task;
  if (n_tasks == 1) {
    fn(std::int64_t{0}, rows);
    return;
  }
  pool.run(n_tasks, [&](std::int64_t task, int) {
    const std::int64_t begin = task * rows_per_task;
    fn(begin, std::min(rows, begin + rows_per_task));
  });
}

}  // namespace pocket
