/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_blk.h - block backend declarations beyond model.h's section (see
   model.h for the device model, model_blk.c for the backend). */
#ifndef MODEL_BLK_H
#define MODEL_BLK_H
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a read or write of N bytes tells model_chain_moved() (the used
   length published under m->knobs.used_len = MODEL_USED_LEN_MOVED, as
   kvmtool reports it): N, the bytes moved to or from the disk (the
   default), or with count_status N + 1, the status byte counted too. A
   write's length is then larger than what the device wrote (1 byte): a
   driver must clamp it and carry on. */
void model_blk_count_status(model *m, int count_status);

#ifdef __cplusplus
}
#endif
#endif /* MODEL_BLK_H */
