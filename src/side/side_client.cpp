#include "side/side_client.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "io/atomic_file.h"
#include "io/error.h"
#include "side/auth.h"

namespace pocket {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kHandshakeTimeoutMs = 10000;
constexpr int kConnectTimeoutMs = 5000;

// An ERROR frame from the server ends the job (wrong key, other model, other task...), except
// "busy" (too many connections, or shutting down): that one is worth retrying like a lost
// connection.
[[noreturn]] void server_refused(const std::string& server, const Frame& f) {
  const msg::ErrorMessage e = msg::decode_error(f.payload);
  if (e.code == ErrorCode::kBusy) throw NetError(server, "server busy: " + e.message);
  throw Error(server, "server refused: " + e.message);
}

}  // namespace

SideClient::SideClient(SideClientOptions options, std::function<void(const std::string&)> log)
    : options_(std::move(options)), log_(std::move(log)) {}

SideClient::~SideClient() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    pending_.clear();
  }
  cv_.notify_all();
  socket_.shutdown_both();
  if (sender_.joinable()) sender_.join();
}

void SideClient::write(MsgType type, const std::string& payload, bool examples) {
  write_frame(socket_, type, payload, options_.timeout_ms);
  if (!examples) traffic_.other_bytes += kFrameHeaderBytes + payload.size();
}

Frame SideClient::read(int timeout_ms) {
  Frame f = read_frame(socket_, kDefaultMaxPayload, timeout_ms);
  if (f.type == MsgType::kError) server_refused(options_.server, f);
  return f;
}

msg::TaskOk SideClient::connect() {
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(options_.retry_seconds);
  int backoff_ms = 200;
  while (true) {
    try {
      socket_ = connect_tcp(options_.server, kConnectTimeoutMs);
      msg::Hello hello;
      hello.device_id = options_.device_id;
      hello.model_checksum = options_.model_checksum;
      random_bytes(hello.device_nonce.data(), hello.device_nonce.size());
      write(MsgType::kHello, msg::encode_hello(hello));
      Frame f = read(kHandshakeTimeoutMs);
      if (f.type != MsgType::kChallenge) throw Error(options_.server, "server sent no CHALLENGE");
      const msg::Challenge challenge = msg::decode_challenge(f.payload);
      write(MsgType::kAuth, msg::encode_auth({msg::auth_mac_device(options_.key, challenge.server_nonce, hello)}));
      f = read(kHandshakeTimeoutMs);
      if (f.type != MsgType::kWelcome) throw Error(options_.server, "server sent no WELCOME");
      const msg::Welcome welcome = msg::decode_welcome(f.payload);
      // Mutual authentication: only a server holding the key can answer our nonce.
      if (!digest_equal(welcome.mac, msg::auth_mac_server(options_.key, hello.device_nonce,
                                                          challenge.server_nonce))) {
        throw Error(options_.server, "the server failed to authenticate (it does not hold our key)");
      }
      write(MsgType::kTask, msg::encode_task(options_.task));
      f = read(kHandshakeTimeoutMs);
      if (f.type != MsgType::kTaskOk) throw Error(options_.server, "server sent no TASK_OK");
      const msg::TaskOk ok = msg::decode_task_ok(f.payload);
      if (ever_connected_) {
        ++traffic_.reconnects;
        log_("reconnected; the server holds " + std::to_string(ok.next_example) + " examples");
      }
      ever_connected_ = true;
      return ok;
    } catch (const NetError& e) {
      socket_.close();
      if (Clock::now() >= give_up) {
        throw Error(options_.server, "unreachable for " + std::to_string(options_.retry_seconds) +
                                         " s: " + e.what());
      }
      log_(std::string("server not reachable (") + e.what() + "); retrying");
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(2 * backoff_ms, 2000);
    }
  }
}

std::int64_t SideClient::begin_upload() {
  const msg::TaskOk ok = connect();
  acked_ = static_cast<std::int64_t>(ok.next_example);
  sender_ = std::thread([this] { send_loop(); });
  return acked_;
}

bool SideClient::submit(std::int64_t first, std::int64_t count, std::string payload) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return pending_.size() < 2 || restart_ || !fatal_.empty(); });
  if (!fatal_.empty()) throw Error(options_.server, fatal_);
  if (restart_) {
    if (first != *restart_) return false;
    restart_.reset();
  }
  pending_.push_back({first, count, std::move(payload)});
  cv_.notify_all();
  return true;
}

std::int64_t SideClient::restart_point() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return restart_ ? *restart_ : acked_;
}

std::optional<std::int64_t> SideClient::end_upload() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return pending_.empty() || restart_ || !fatal_.empty(); });
  if (!fatal_.empty()) throw Error(options_.server, fatal_);
  if (restart_) return restart_;
  closing_ = true;
  cv_.notify_all();
  lock.unlock();
  sender_.join();
  return std::nullopt;
}

void SideClient::send_loop() {
  std::int64_t submitted_end = acked_;  // one past the last example handed to us
  while (true) {
    Batch* batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return !pending_.empty() || closing_; });
      if (pending_.empty()) return;
      batch = &pending_.front();  // only this thread pops; push_back keeps references valid
      submitted_end = std::max(submitted_end, pending_.back().first + pending_.back().count);
    }
    try {
      write(MsgType::kExamples, batch->payload, /*examples=*/true);
      const Frame f = read(options_.timeout_ms);
      if (f.type != MsgType::kAck) throw Error(options_.server, "server sent no ACK");
      const msg::Ack ack = msg::decode_ack(f.payload);
      if (static_cast<std::int64_t>(ack.next_example) != batch->first + batch->count) {
        throw Error(options_.server, "ACK for the wrong example");
      }
      std::lock_guard<std::mutex> lock(mutex_);
      traffic_.example_bytes += kFrameHeaderBytes + batch->payload.size();
      traffic_.examples += static_cast<std::uint64_t>(batch->count);
      acked_ = batch->first + batch->count;
      pending_.pop_front();
      cv_.notify_all();
    } catch (const NetError&) {
      socket_.close();
      try {
        const msg::TaskOk ok = connect();
        std::lock_guard<std::mutex> lock(mutex_);
        acked_ = static_cast<std::int64_t>(ok.next_example);
        while (!pending_.empty() && pending_.front().first + pending_.front().count <= acked_) {
          pending_.pop_front();
        }
        const bool gap = pending_.empty() ? acked_ < submitted_end : pending_.front().first != acked_;
        if (gap) {
          log_("the server holds " + std::to_string(acked_) + " examples, fewer than sent: sending again from there");
          restart_ = acked_;
          pending_.clear();
          submitted_end = acked_;
        }
        cv_.notify_all();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        fatal_ = e.what();
        cv_.notify_all();
        return;
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      fatal_ = e.what();
      cv_.notify_all();
      return;
    }
  }
}

bool SideClient::receive_result(const std::string& path,
                                const std::function<void(const msg::Progress&)>& progress) {
  const std::int64_t total = static_cast<std::int64_t>(options_.task.n_train + options_.task.n_dev);
  const std::string temp = path + ".part";
  std::FILE* file = nullptr;
  std::uint64_t written = 0;
  const auto discard = [&] {
    if (file != nullptr) std::fclose(file);
    file = nullptr;
    written = 0;
    std::remove(temp.c_str());
  };
  while (true) {
    try {
      if (!socket_.is_open()) {
        const msg::TaskOk ok = connect();
        if (static_cast<std::int64_t>(ok.next_example) < total) {
          discard();
          std::lock_guard<std::mutex> lock(mutex_);
          restart_ = acked_ = static_cast<std::int64_t>(ok.next_example);
          closing_ = false;
          sender_ = std::thread([this] { send_loop(); });
          return false;
        }
      }
      const Frame f = read(options_.timeout_ms);
      if (f.type == MsgType::kProgress) {
        progress(msg::decode_progress(f.payload));
        continue;
      }
      if (f.type != MsgType::kResult) {
        throw Error(options_.server, std::string("unexpected ") + msg_type_name(f.type) +
                                         " while waiting for the result");
      }
      const msg::ResultChunk c = msg::decode_result(f.payload);
      if (c.offset == 0) discard();
      if (c.offset != written) throw Error(options_.server, "RESULT chunks out of order");
      if (file == nullptr && (file = std::fopen(temp.c_str(), "wb")) == nullptr) {
        throw Error(temp, "cannot create");
      }
      if (std::fwrite(c.chunk.data(), 1, c.chunk.size(), file) != c.chunk.size()) {
        discard();
        throw Error(temp, "write failed");
      }
      written += c.chunk.size();
      if (written < c.total_bytes) continue;
      // Whole: make it durable under its final name before telling the server we are done.
      const bool ok = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
      std::fclose(file);
      file = nullptr;
      if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
        std::remove(temp.c_str());
        throw Error(path, "cannot write the side network");
      }
      fsync_directory(std::filesystem::path(path).parent_path().string());
      write(MsgType::kBye, msg::encode_bye());
      socket_.close();
      return true;
    } catch (const NetError&) {
      socket_.close();
      discard();
    } catch (...) {
      discard();
      throw;
    }
  }
}

}  // namespace pocket
