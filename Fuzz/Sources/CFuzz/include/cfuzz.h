// libFuzzer's driver entry (libclang_rt.fuzzer_no_main): the harness has its own main() because
// SwiftPM renames an executable's entry point, which clashes with the main() of libclang_rt.fuzzer.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
