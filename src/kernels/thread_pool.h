// One persistent pool of worker threads for every parallel kernel.
//
// run(n_tasks, fn) calls fn(task, worker) once for each task in [0, n_tasks) and returns when all
// are done; the calling thread works as worker 0. Tasks are handed out dynamically, so a kernel
// must make each task's output independent of which worker ran it and of the others: kernels
// split over output rows/columns (never over a reduction), which is what makes results
// bit-identical for any thread count.
//
// Each worker owns a 64-byte-aligned scratch buffer (GEMM packing panels). It only grows, in
// reserve_scratch(), which a kernel calls before run(): after the first call of a given size no
// allocation happens, so a training step allocates nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace pocket {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  template <class F>
  void run(std::int64_t n_tasks, F&& fn) {
    auto call = [](void* ctx, std::int64_t task, int worker) {
      (*static_cast<std::remove_reference_t<F>*>(ctx))(task, worker);
    };
    run_erased(n_tasks, call, &fn);
  }

  // Makes every worker's scratch at least `bytes` long (grow-only; never call inside run()).
  void reserve_scratch(std::size_t bytes);
  void* scratch(int worker) const { return scratch_[worker].get(); }
  std::size_t scratch_bytes() const { return scratch_bytes_; }

 private:
  using TaskFn = void (*)(void*, std::int64_t, int);
  struct AlignedFree {
    void operator()(void* p) const;
  };

  void run_erased(std::int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int worker);
  void drain(int worker);
  bool join(std::uint64_t gen);  // joins job `gen` if it is still open

  int n_threads_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<void, AlignedFree>> scratch_;
  std::size_t scratch_bytes_ = 0;

  // The job being run: published under mutex_, announced by bumping generation_.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::int64_t> next_task_{0};
  // Who works on the job: (generation << 32) | workers joined, kClosed set by the caller once it
  // has run out of tasks. A worker joins only an open job of its own generation, so the caller
  // waits for the workers that joined, never for one that has not woken up yet.
  std::atomic<std::uint64_t> joined_{0};
  std::atomic<int> finished_workers_{0};
  std::int64_t n_tasks_ = 0;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  bool stop_ = false;
};

// Number of hardware threads (at least 1).
int hardware_threads();

// The process-wide pool the kernels use. Starts with hardware_threads() workers.
ThreadPool& default_pool();

// Replaces the process-wide pool with one of n threads (n <= 0: hardware_threads()).
// Not thread-safe against kernels running at the same time: call it at start-up or between steps.
void set_num_threads(int n);

}  // namespace pocket
