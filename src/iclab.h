/* iclab.h: the umbrella header of the installed library, <iclab/iclab.h>.
 *
 * It is the flat, stable C API (capi.h): opaque handles, float32 arrays,
 * one-line errors in a caller's buffer. The lower-level headers this
 * directory also holds (<iclab/model.h>, <iclab/probe.h>, ...) are the
 * library's internals as they are in this version; they may change.
 * Build with `pkg-config --cflags --libs iclab`. */
#ifndef ICLAB_ICLAB_H
#define ICLAB_ICLAB_H

#include "capi.h"

#endif
