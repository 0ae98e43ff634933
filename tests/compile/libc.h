/* memset for use.h: <string.h> when hosted, a prototype when freestanding. */
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__
#include <string.h>
#else
#ifdef __cplusplus
extern "C"
#endif
void *memset(void *d, int c, size_t n);
#endif
