#include "kernels/thread_pool.h"

#include <cassert>
#include <cstdlib>
#include <new>

namespace pocket {

namespace {
// A woken worker spins this many polls for the next job before sleeping: consecutive kernels of a
// forward pass follow each other within microseconds, faster than a condition-variable wake-up.
constexpr int kSpinPolls = 1 << 14;
constexpr std::uint64_t kClosed = std::uint64_t{1} << 31;
constexpr std::uint64_t kCountMask = kClosed - 1;
}  // namespace

void ThreadPool::AlignedFree::operator()(void* p) const { std::free(p); }

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  scratch_.resize(n_threads_);
  for (int w = 1; w < n_threads_; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::reserve_scratch(std::size_t bytes) {
  if (bytes <= scratch_bytes_) return;
  bytes = (bytes + 63) & ~std::size_t{63};
  for (auto& buf : scratch_) {
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    buf.reset(p);
  }
  scratch_bytes_ = bytes;
}

void ThreadPool::drain(int worker) {
  for (;;) {
    const std::int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    fn_(ctx_, task, worker);
  }
}

void ThreadPool::run_erased(std::int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (std::int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    n_tasks_ = n_tasks;
    fn_ = fn;
    ctx_ = ctx;
    next_task_.store(0, std::memory_order_relaxed);
    finished_workers_.store(0, std::memory_order_relaxed);
    const std::uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    joined_.store(gen << 32, std::memory_order_relaxed);
    generation_.store(gen, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  // Every task has been handed out. Close the job: workers that have not joined yet (asleep, or
  // descheduled by the OS) never will, and it can return as soon as those that did are done.
  const std::uint64_t joined = joined_.fetch_or(kClosed, std::memory_order_acq_rel) & kCountMask;
  while (static_cast<std::uint64_t>(finished_workers_.load(std::memory_order_acquire)) != joined) {
    std::this_thread::yield();
  }
}

bool ThreadPool::join(std::uint64_t gen) {
  std::uint64_t j = joined_.load(std::memory_order_acquire);
  for (;;) {
    if ((j >> 32) != (gen & 0xFFFFFFFFu) || (j & kClosed) != 0) return false;
    if (joined_.compare_exchange_weak(j, j + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return true;
    }
  }
}

void ThreadPool::worker_loop(int worker) {
  std::uint64_t seen = 0;
  for (;;) {
    std::uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinPolls; ++spin) {
      std::this_thread::yield();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    {
      // Taking the lock orders this worker after the publication of the job's fields.
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    if (!join(gen)) continue;  // the job was over before this worker got to it
    drain(worker);
    finished_workers_.fetch_add(1, std::memory_order_release);
  }
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

ThreadPool& default_pool() {
  auto& pool = pool_slot();
  if (!pool) pool = std::make_unique<ThreadPool>(hardware_threads());
  return *pool;
}

void set_num_threads(int n) {
  auto& pool = pool_slot();
  const int want = n <= 0 ? hardware_threads() : n;
  if (pool && pool->size() == want) return;
  pool.reset();
  pool = std::make_unique<ThreadPool>(want);
}

}  // namespace pocket
