// oneDNN's C API (Debian's libdnnl-dev, built with the OpenMP runtime).
#include <oneapi/dnnl/dnnl.h>

// The OpenMP runtime oneDNN runs on: the thread count is set through it.
int omp_get_max_threads(void);
void omp_set_num_threads(int);
