#ifndef CAPTIONER_FUZZ_DRIVER_H
#define CAPTIONER_FUZZ_DRIVER_H

/// Runs libFuzzer's driver (flags, corpus, mutation loop) on the harness's
/// LLVMFuzzerTestOneInput. The harnesses call it from their @main, because SwiftPM links an
/// executable's entry point as `main` itself and so libFuzzer's own main() cannot be used.
int captioner_fuzz_main(int argc, char **argv);

#endif
