#include "side/side_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hash.h"
#include "side/act_codec.h"
#include "side/example_store.h"
#include "side/frame.h"
#include "side/messages.h"
#include "side/model_checksum.h"
#include "side/side_task.h"
#include "side/side_trainer.h"

namespace pocket {

namespace fs = std::filesystem;

namespace {

constexpr int kHandshakeTimeoutMs = 10000;
constexpr int kProgressEveryMs = 1000;  // PROGRESS while a device waits (well under its timeout)

SideTaskSpec spec_of(const msg::Task& t) {
  SideTaskSpec s;
  s.lm = t.kind == msg::TaskKind::kLm;
  s.act_bits = t.act_bits;
  s.n_vectors = t.n_vectors;
  s.hidden = t.hidden;
  s.candidates = t.candidates;
  s.n_train = static_cast<std::int64_t>(t.n_train);
  s.n_dev = static_cast<std::int64_t>(t.n_dev);
  s.reduction = t.reduction;
  s.epochs = t.epochs;
  s.batch = t.batch;
  s.lr = t.lr;
  s.seed = t.seed;
  return s;
}

void send_error(Socket& socket, ErrorCode code, const std::string& message) {
  try {
    write_frame(socket, MsgType::kError, msg::encode_error({code, message}), 1000);
  } catch (const std::exception&) {
    // The connection is being dropped for a reason already logged; a peer that cannot take the
    // ERROR frame changes nothing.
  }
}

float as_float(double v) { return static_cast<float>(v); }

}  // namespace

// One device's job: its examples, its trainer (on its own thread) and what connections wait on.
struct SideServer::Job {
  std::string id;        // device id, hex
  std::string dir;
  std::string task_payload;
  SideTaskSpec spec;
  std::unique_ptr<ExampleStore> store;
  std::unique_ptr<SideTrainer> trainer;
  std::thread thread;
  std::mutex mutex;            // status, done, error, stop
  std::condition_variable cv;  // new examples, a step done, stop
  SideTrainerStatus status;
  bool done = false;
  std::string error;           // the trainer failed: why
  bool stop = false;
};

SideServer::SideServer(const Model& model, const Digest& model_checksum, SideServerOptions options,
                       std::function<void(const std::string&)> log)
    : model_(model),
      model_checksum_(model_checksum),
      options_(std::move(options)),
      log_(std::move(log)),
      state_dir_(options_.state_dir) {
  if (state_dir_.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "pocket-side-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw Error("side-server", "cannot make a temporary state directory");
    state_dir_ = tmpl;
    temporary_state_ = true;
  } else {
    std::error_code ec;
    fs::create_directories(state_dir_, ec);
    if (ec) throw Error(state_dir_, "cannot create the state directory: " + ec.message());
  }
  listener_ = listen_tcp(options_.listen);
}

SideServer::~SideServer() {
  shutdown();
  if (temporary_state_) {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
  }
}

void SideServer::say(const std::string& line) {
  std::lock_guard<std::mutex> lock(log_mutex_);
  log_(line);
}

void SideServer::reap(bool all) {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all && it->second.fd >= 0) ::shutdown(it->second.fd, SHUT_RDWR);
      if (all || it->second.done) {
        done.push_back(std::move(it->second.thread));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (std::thread& t : done) t.join();
}

void SideServer::serve(const std::atomic<bool>& stop) {
  while (!stop) {
    std::optional<Socket> socket = listener_.accept(200);
    reap(false);
    if (!socket) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      say(socket->peer() + ": refused, " + std::to_string(options_.max_connections) + " connections already");
      send_error(*socket, ErrorCode::kBusy, "server busy: too many connections");
      continue;
    }
    const std::int64_t id = next_connection_++;
    Connection& c = connections_[id];
    c.fd = socket->fd();
    c.thread = std::thread([this, id, s = std::move(*socket)]() mutable {
      handle(s);
      std::lock_guard<std::mutex> lock(mutex_);
      // At stop, reap(true) may already have taken this connection's entry (it joins us next).
      const auto me = connections_.find(id);
      if (me != connections_.end()) {
        me->second.fd = -1;
        me->second.done = true;
      }
      s.close();
    });
  }
  shutdown();
}

// Closes every connection, then stops every trainer (each checkpoints) and joins it. Idempotent:
// serve() ends with it, and the destructor repeats it for a serve() that ended by an exception.
void SideServer::shutdown() {
  stopping_ = true;
  reap(true);
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, job] : jobs_) jobs.push_back(job);
  }
  for (auto& job : jobs) {
    {
      std::lock_guard<std::mutex> lock(job->mutex);
      job->stop = true;
    }
    job->cv.notify_all();
    if (job->thread.joinable()) job->thread.join();
  }
}

// The trainer's thread: a step as soon as its examples are held; a checkpoint when stopped.
void SideServer::train(Job& job) {
  try {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(job.mutex);
        job.cv.wait(lock, [&] {
          return job.stop || job.trainer->done() ||
                 job.store->size() >= job.trainer->examples_needed();
        });
        if (job.trainer->done()) break;
        if (job.stop) {
          // Stopped between steps: keep every step done so far.
          if (job.trainer->status().step > 0) job.trainer->checkpoint();
          break;
        }
      }
      job.trainer->run_step(*job.store);
      std::lock_guard<std::mutex> lock(job.mutex);
      job.status = job.trainer->status();
      job.done = job.trainer->done();
      if (job.done) say("device " + job.id.substr(0, 8) + ": training done, result ready");
      job.cv.notify_all();
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(job.mutex);
    job.error = e.what();
    say("device " + job.id.substr(0, 8) + ": training failed: " + job.error);
    job.cv.notify_all();
  }
}

std::shared_ptr<SideServer::Job> SideServer::open_job(const std::string& id_hex,
                                                      const std::string& task_payload) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id_hex);
  if (it != jobs_.end()) {
    if (it->second->task_payload != task_payload) {
      throw ProtocolError(ErrorCode::kTaskMismatch, "this device's job was started with another task");
    }
    return it->second;
  }
  const SideTaskSpec spec = spec_of(msg::decode_task(task_payload));
  try {
    check_side_task(spec, model_.config().hidden, model_.config().n_layers, model_.config().vocab_size);
  } catch (const Error& e) {
    throw ProtocolError(ErrorCode::kTaskMismatch, e.what());
  }
  auto job = std::make_shared<Job>();
  job->id = id_hex;
  job->dir = state_dir_ + "/" + id_hex;
  job->spec = spec;
  job->task_payload = task_payload;
  const std::string task_file = job->dir + "/task.bin";
  std::error_code ec;
  if (fs::exists(task_file, ec)) {
    std::ifstream in(task_file, std::ios::binary);
    std::stringstream held;
    held << in.rdbuf();
    if (held.str() != task_payload) {
      throw ProtocolError(ErrorCode::kTaskMismatch,
                          "this device's job (kept in " + job->dir + ") was started with another task");
    }
  } else {
    fs::create_directories(job->dir, ec);
    if (ec) throw Error(job->dir, "cannot create: " + ec.message());
    write_file_atomic(task_file, task_payload);
  }
  job->store = std::make_unique<ExampleStore>(job->dir + "/examples.bin");
  if (job->store->dropped_bytes() > 0) {
    say("device " + id_hex.substr(0, 8) + ": cut " + std::to_string(job->store->dropped_bytes()) +
        " bytes of a torn example record");
  }
  std::map<std::string, std::string> meta = {
      {"side.model_checksum", digest_hex(model_checksum_)}};
  Job* raw = job.get();
  job->trainer = std::make_unique<SideTrainer>(
      model_, spec, job->dir, options_.checkpoint_every, meta,
      [this, raw](const std::string& line) { say("device " + raw->id.substr(0, 8) + ": " + line); });
  job->status = job->trainer->status();
  job->done = job->trainer->done();
  say("device " + id_hex.substr(0, 8) + ": job " + describe_side_task(spec) + "; " +
      std::to_string(job->store->size()) + " examples held, step " +
      std::to_string(job->status.step) + " of " + std::to_string(spec.total_steps()));
  job->thread = std::thread([this, raw] { train(*raw); });
  jobs_[id_hex] = job;
  return job;
}

void SideServer::handle(Socket& socket) {
  const std::string peer = socket.peer();
  std::string who = peer;
  try {
    // Handshake: HELLO → CHALLENGE → AUTH → WELCOME. Nothing is told to a peer before its mac
    // checks out, not even whether the model matches.
    const int t = kHandshakeTimeoutMs;
    Frame f = read_frame(socket, 256, t);
    if (f.type != MsgType::kHello) throw ProtocolError(ErrorCode::kProtocolOrder, "expected HELLO");
    const msg::Hello hello = msg::decode_hello(f.payload);
    msg::Challenge challenge;
    random_bytes(challenge.server_nonce.data(), challenge.server_nonce.size());
    write_frame(socket, MsgType::kChallenge, msg::encode_challenge(challenge), t);
    f = read_frame(socket, 256, t);
    if (f.type != MsgType::kAuth) throw ProtocolError(ErrorCode::kProtocolOrder, "expected AUTH");
    const msg::Auth auth = msg::decode_auth(f.payload);
    if (!digest_equal(auth.mac, msg::auth_mac_device(options_.key, challenge.server_nonce, hello))) {
      throw ProtocolError(ErrorCode::kAuthFailed, "authentication failed (wrong key?)");
    }
    const std::string id = hex_string(hello.device_id.data(), hello.device_id.size());
    who = "device " + id.substr(0, 8) + " (" + peer + ")";
    if (!digest_equal(hello.model_checksum, model_checksum_)) {
      throw ProtocolError(ErrorCode::kModelMismatch,
                          "the device's base model differs from the server's (checksum of config + weights)");
    }
    bool exists;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      exists = jobs_.count(id) > 0 || fs::exists(state_dir_ + "/" + id + "/task.bin");
    }
    msg::Welcome welcome;
    welcome.mac = msg::auth_mac_server(options_.key, hello.device_nonce, challenge.server_nonce);
    welcome.job_exists = exists;
    write_frame(socket, MsgType::kWelcome, msg::encode_welcome(welcome), t);

    f = read_frame(socket, 1u << 20, t);
    if (f.type != MsgType::kTask) throw ProtocolError(ErrorCode::kProtocolOrder, "expected TASK");
    std::shared_ptr<Job> job = open_job(id, f.payload);
    const SideTaskSpec& spec = job->spec;
    {
      msg::TaskOk ok;
      ok.next_example = static_cast<std::uint64_t>(job->store->size());
      std::lock_guard<std::mutex> lock(job->mutex);
      ok.result_ready = job->done;
      write_frame(socket, MsgType::kTaskOk, msg::encode_task_ok(ok), t);
    }
    say(who + ": connected, " + std::to_string(job->store->size()) + " of " +
        std::to_string(spec.n_total()) + " examples held");

    // Upload: EXAMPLES → stored durably → ACK.
    const std::size_t vb = act_vector_bytes(spec.hidden, spec.act_bits);
    std::vector<std::string> records;
    std::vector<std::string_view> views;
    while (job->store->size() < spec.n_total()) {
      f = read_frame(socket, options_.max_payload, options_.timeout_ms);
      if (f.type == MsgType::kBye) return;
      if (f.type != MsgType::kExamples) throw ProtocolError(ErrorCode::kProtocolOrder, "expected EXAMPLES");
      const msg::Examples ex = msg::decode_examples(f.payload, static_cast<std::uint32_t>(spec.n_vectors), vb);
      const std::int64_t first = static_cast<std::int64_t>(ex.first_index);
      const std::int64_t n = static_cast<std::int64_t>(ex.examples.size());
      if (first != job->store->size() || first + n > spec.n_total()) {
        throw ProtocolError(ErrorCode::kProtocolOrder,
                            "EXAMPLES from " + std::to_string(first) + " (+" + std::to_string(n) +
                                "), the server expects " + std::to_string(job->store->size()));
      }
      records.resize(static_cast<std::size_t>(n));
      views.resize(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        const msg::Example& e = ex.examples[static_cast<std::size_t>(i)];
        std::string& r = records[static_cast<std::size_t>(i)];
        const std::uint32_t positions = static_cast<std::uint32_t>(e.targets.size());
        r.assign(reinterpret_cast<const char*>(&positions), 4);
        r.append(reinterpret_cast<const char*>(e.targets.data()), 4 * e.targets.size());
        r.append(e.vectors);
        try {
          parse_example(r, spec, model_.config().vocab_size);
        } catch (const Error& err) {
          throw ProtocolError(ErrorCode::kBadFrame, "example " + std::to_string(first + i) + ": " + err.what());
        }
        views[static_cast<std::size_t>(i)] = r;
      }
      job->store->append(views.data(), n);
      {
        // The trainer checks the store's size under job->mutex before it sleeps: taking the lock
        // here orders this append before that check or after the wait began, so the
        // notification is never lost.
        std::lock_guard<std::mutex> lock(job->mutex);
      }
      job->cv.notify_all();
      write_frame(socket, MsgType::kAck,
                  msg::encode_ack({static_cast<std::uint64_t>(job->store->size())}), t);
    }

    // Training: PROGRESS until the result is ready, then RESULT in chunks, then BYE.
    while (true) {
      msg::Progress p;
      bool done;
      std::string error;
      {
        std::unique_lock<std::mutex> lock(job->mutex);
        job->cv.wait_for(lock, std::chrono::milliseconds(kProgressEveryMs),
                         [&] { return job->done || !job->error.empty() || stopping_; });
        const SideTrainerStatus& s = job->status;
        p.step = static_cast<std::uint64_t>(s.step);
        p.total_steps = static_cast<std::uint64_t>(spec.total_steps());
        p.epoch = static_cast<std::uint32_t>(s.epoch);
        p.train_loss = as_float(s.train_loss);
        p.dev_accuracy = as_float(s.dev.accuracy);
        p.dev_loss = as_float(s.dev.loss);
        done = job->done;
        error = job->error;
      }
      if (!error.empty()) throw ProtocolError(ErrorCode::kInternal, "training failed: " + error);
      if (stopping_) throw ProtocolError(ErrorCode::kBusy, "server shutting down");
      write_frame(socket, MsgType::kProgress, msg::encode_progress(p), t);
      if (done) break;
    }
    std::ifstream in(job->trainer->result_path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string file = buf.str();
    if (file.empty()) throw ProtocolError(ErrorCode::kInternal, "the result file is missing");
    for (std::size_t at = 0; at < file.size(); at += msg::kMaxResultChunk) {
      msg::ResultChunk chunk;
      chunk.total_bytes = file.size();
      chunk.offset = at;
      chunk.chunk = std::string_view(file).substr(at, msg::kMaxResultChunk);
      write_frame(socket, MsgType::kResult, msg::encode_result(chunk), options_.timeout_ms);
    }
    f = read_frame(socket, 256, options_.timeout_ms);
    if (f.type != MsgType::kBye) throw ProtocolError(ErrorCode::kProtocolOrder, "expected BYE");
    say(who + ": result delivered (" + std::to_string(file.size()) + " bytes), bye");
  } catch (const ProtocolError& e) {
    say(who + ": closed: " + e.what());
    send_error(socket, e.code, e.what());
  } catch (const NetError& e) {
    if (!stopping_) say(who + ": connection lost: " + e.what());
  } catch (const std::exception& e) {
    say(who + ": closed: " + e.what());
    send_error(socket, ErrorCode::kInternal, e.what());
  }
}

}  // namespace pocket
