// The CPUs this process may run on (sched_getaffinity), which `taskset`, `docker --cpuset-cpus`
// and schedulers' CPU sets narrow; CPU_COUNT is a macro Swift cannot call.
#define _GNU_SOURCE
#include <sched.h>
#include "CKernels.h"

int captioner_affinity_cpu_count(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}
