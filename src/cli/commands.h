// The subcommands of `pocket`, one per file in src/cli/. Each takes the arguments after "pocket"
// (argv[0] is the subcommand's name), throws pocket::Error for user-facing failures (main prints
// them) and returns the process exit status.
#pragma once

namespace pocket {

int cmd_init(int argc, char** argv);      // init.cpp: random model with a published shape
int cmd_convert(int argc, char** argv);   // convert.cpp: HF checkpoint -> F16 model.safetensors
int cmd_quantize(int argc, char** argv);  // quantize.cpp: a model -> a GGUF file in a block format
int cmd_forward(int argc, char** argv);   // forward.cpp: ids and logits of one sequence
int cmd_generate(int argc, char** argv);  // generate.cpp: text continuation with a KV cache
int cmd_tune(int argc, char** argv);      // tune.cpp: MeZO fine-tuning into a run directory
int cmd_eval(int argc, char** argv);      // eval.cpp: accuracy / loss of a model or a run
int cmd_export(int argc, char** argv);    // export.cpp: a run's tuned model as an HF directory
int cmd_replay(int argc, char** argv);    // replay.cpp: base model + journal -> tuned model
int cmd_side_tune(int argc, char** argv);    // side_tune.cpp: device side of side tuning
int cmd_side_server(int argc, char** argv);  // side_server.cpp: trains side networks for devices

}  // namespace pocket
