// The device's connection to a side-tuning server (docs/side-protocol.md). The forward pass (the
// caller's thread) hands over one EXAMPLES payload per batch; a sender thread writes them and waits
// for their ACKs, so the forward of batch i+1 runs while batch i is on the wire (at most two
// batches wait, which bounds the memory). A lost connection is retried; after the handshake the
// server says how many examples it holds durably, and upload resumes from there — when the
// server lost examples the device already sent (restarted without its state), the caller is told to
// produce them again from that point.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "side/frame.h"
#include "side/messages.h"

namespace pocket {

struct SideClientOptions {
  std::string server;         // HOST:PORT
  std::string key;            // pre-shared key bytes
  msg::DeviceId device_id{};
  Digest model_checksum{};
  msg::Task task;
  int timeout_ms = 60000;     // longest silence from the server when a frame is due
  int retry_seconds = 120;    // how long to keep reconnecting before giving up
};

struct SideTraffic {
  std::uint64_t example_bytes = 0;   // EXAMPLES frames acknowledged (headers included)
  std::uint64_t examples = 0;        // examples in them
  std::uint64_t other_bytes = 0;     // every other frame sent, and resends
  std::int64_t reconnects = 0;
};

class SideClient {
 public:
  SideClient(SideClientOptions options, std::function<void(const std::string&)> log);
  ~SideClient();

  // Connects (retrying) and returns the first example the server does not hold yet.
  std::int64_t begin_upload();
  // Queues the payload of EXAMPLES [first, first + count); blocks while two batches wait. Returns
  // false when the caller must produce again from restart_point() (the server lost examples).
  bool submit(std::int64_t first, std::int64_t count, std::string payload);
  std::int64_t restart_point() const;
  // Waits until everything submitted is acknowledged: nullopt, or the point to produce again from.
  std::optional<std::int64_t> end_upload();
  // After the upload: PROGRESS messages to `progress` until the RESULT (the trained side
  // network's safetensors file) has been written to `path` — streamed chunk by chunk into a
  // temporary file, fsynced and renamed, so the device never holds the whole file in memory —
  // then BYE. false (and restart_point()) when the server turned out to lack examples after a
  // reconnect: the caller uploads again.
  bool receive_result(const std::string& path,
                      const std::function<void(const msg::Progress&)>& progress);

  const SideTraffic& traffic() const { return traffic_; }

 private:
  struct Batch {
    std::int64_t first = 0, count = 0;
    std::string payload;
  };
  // Connects and shakes hands until it works or retry_seconds pass; returns TASK_OK.
  msg::TaskOk connect();
  void send_loop();
  void write(MsgType type, const std::string& payload, bool examples = false);
  Frame read(int timeout_ms);

  SideClientOptions options_;
  std::function<void(const std::string&)> log_;
  Socket socket_;
  SideTraffic traffic_;
  bool ever_connected_ = false;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> pending_;   // submitted, not yet acknowledged (front = oldest)
  std::int64_t acked_ = 0;      // the server holds [0, acked_)
  std::optional<std::int64_t> restart_;  // set by the sender: produce again from here
  std::string fatal_;           // the sender gave up: why
  bool closing_ = false;
  std::thread sender_;
};

}  // namespace pocket
