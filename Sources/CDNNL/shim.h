// oneDNN's C API (Debian's libdnnl-dev, built with the OpenMP runtime).
#include <oneapi/dnnl/dnnl.h>

// The OpenMP runtime oneDNN runs on: the thread count is set through it.
int omp_get_max_threads(void);
void omp_set_num_threads(int);

// libgomp's entry point for a parallel region (what `#pragma omp parallel` compiles to): runs
// fn(data) on every thread of a team of up to num_threads, the caller included. TensorCore runs its
// own parallel loops on it, so they share oneDNN's worker threads instead of competing with them.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned int flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
