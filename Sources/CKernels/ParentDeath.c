// prctl is variadic, which Swift cannot call.
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include "CKernels.h"

int captioner_die_with_parent(void) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
#else
    return -1;
#endif
}
