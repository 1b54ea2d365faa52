// pocket forward: token ids and logits of one sequence, for debugging and for comparing a port
// against another machine bit for bit (--json prints every logit exactly).
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "model/lora_adapter.h"
#include "model/model.h"

namespace pocket {
namespace {

std::vector<std::int32_t> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::string token;
  std::stringstream in(text);
  while (in >> token) {
    std::size_t start = 0;
    while (start < token.size()) {  // "1,2, 3" as well as "1 2 3"
      std::size_t end = token.find(',', start);
      if (end == std::string::npos) end = token.size();
      const std::string item = token.substr(start, end - start);
      start = end + 1;
      if (item.empty()) continue;
      std::size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || id < 0 || id > INT32_MAX) {
        throw Error("--ids", "'" + item + "' is not a token id");
      }
      ids.push_back(static_cast<std::int32_t>(id));
    }
  }
  if (ids.empty()) throw Error("--ids", "no token ids");
  return ids;
}

// Shortest text that reads back as the same float: JSON can carry logits exactly.
void print_float(float x) { std::printf("%.9g", static_cast<double>(x)); }

}  // namespace

int cmd_forward(int argc, char** argv) {
  std::string dir, text, ids_text, positions = "last", adapter;
  std::int64_t threads = 0, top = 5;
  bool json = false;
  Args args("pocket forward MODEL (--text T | --ids \"0 31414 232\") [--positions all|last] [--json]",
            "Runs one sequence through the model and prints its token ids and the logits at the\n"
            "chosen positions: the top tokens per position, or with --json every logit as\n"
            "{\"ids\": [...], \"logits\": [[...], ...]} (exact floats, for comparing machines).\n"
            "--text is tokenized with the model's tokenizer and its special tokens (as Hugging\n"
            "Face's tokenizer(text) does).");
  args.positional("MODEL", &dir, "a Hugging Face model directory (F16 safetensors) or a GGUF file");
  args.option("--text", &text, "input text");
  args.option("--ids", &ids_text, "input token ids, separated by spaces or commas");
  args.option("--positions", &positions, "logits at 'all' positions or the 'last' one");
  args.flag("--json", &json, "print JSON with every logit");
  args.option("--top", &top, "tokens shown per position without --json");
  args.option("--adapter", &adapter, "a PEFT LoRA adapter directory (adapter_config.json, "
                                     "adapter_model.safetensors) applied without merging");
  args.option("--threads", &threads, "threads (0: every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  if (args.given("--text") == args.given("--ids")) {
    throw Error("forward", "give exactly one of --text and --ids");
  }
  if (positions != "all" && positions != "last") {
    throw Error("--positions", "'" + positions + "' is not 'all' or 'last'");
  }
  apply_threads(threads);

  Model model(dir);
  if (!adapter.empty()) load_lora_adapter(model, adapter);
  const ModelConfig& c = model.config();
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<std::int32_t> ids;
  if (args.given("--text")) {
    tokenizer = load_tokenizer(dir, c.model_type);
    ids = tokenizer->encode_for_model(text);
    if (ids.empty()) throw Error("--text", "no tokens");
  } else {
    ids = parse_ids(ids_text);
  }
  const std::int64_t T = static_cast<std::int64_t>(ids.size());
  std::vector<std::int64_t> rows;
  if (positions == "all") {
    rows.resize(static_cast<std::size_t>(T));
    std::iota(rows.begin(), rows.end(), 0);
  } else {
    rows.push_back(T - 1);
  }
  const std::int64_t R = static_cast<std::int64_t>(rows.size());
  Session session(model, {1, T, R, 0});
  std::vector<float> logits(static_cast<std::size_t>(R * c.vocab_size));
  session.forward({1, T, ids.data(), nullptr}, rows.data(), R, logits.data());

  if (json) {
    std::printf("{\"ids\": [");
    for (std::int64_t i = 0; i < T; ++i) std::printf(i ? ", %d" : "%d", ids[static_cast<std::size_t>(i)]);
    std::printf("], \"positions\": [");
    for (std::int64_t r = 0; r < R; ++r) std::printf(r ? ", %lld" : "%lld", static_cast<long long>(rows[static_cast<std::size_t>(r)]));
    std::printf("], \"logits\": [");
    for (std::int64_t r = 0; r < R; ++r) {
      std::printf(r ? ",\n[" : "\n[");
      const float* row = logits.data() + r * c.vocab_size;
      for (std::int64_t v = 0; v < c.vocab_size; ++v) {
        if (v) std::printf(", ");
        print_float(row[v]);
      }
      std::printf("]");
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("ids:");
  for (std::int32_t id : ids) std::printf(" %d", id);
  std::printf("\n");
  const std::int64_t k = std::clamp<std::int64_t>(top, 1, c.vocab_size);
  std::vector<std::int32_t> order(static_cast<std::size_t>(c.vocab_size));
  for (std::int64_t r = 0; r < R; ++r) {
    const float* row = logits.data() + r * c.vocab_size;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](std::int32_t a, std::int32_t b) { return row[a] > row[b]; });
    const std::int64_t t = rows[static_cast<std::size_t>(r)];
    std::printf("position %lld (id %d):", static_cast<long long>(t), ids[static_cast<std::size_t>(t)]);
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int32_t id = order[static_cast<std::size_t>(j)];
      std::printf("  %d", id);
      if (tokenizer) {
        std::string piece = tokenizer->decode({id});
        for (char& ch : piece) {
          if (ch == '\n') ch = ' ';
        }
        std::printf(" '%s'", piece.c_str());
      }
      std::printf(" %.4f", static_cast<double>(row[id]));
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace pocket
