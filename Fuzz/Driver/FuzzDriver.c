#include "FuzzDriver.h"
#include <stddef.h>
#include <stdint.h>

// Both come from the harness (Swift, @_cdecl) and libFuzzer (linked by -sanitize=fuzzer).
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int captioner_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
