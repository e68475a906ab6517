/* fuzz_torchpickle.c: libFuzzer harness of the torch.save reader. The first
 * byte picks the target: even -> the restricted unpickler on the rest
 * (data.pkl bytes), odd -> the whole zip reader (libzip + unpickler + tensor
 * materialisation) with small caps. Neither may crash, leak or read out of
 * bounds, and every failure must leave a message. */
#include <stdint.h>
#include <stdlib.h>

#include "torchimport.h"
#include "torchpickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ic_err err = {{0}};
    if (data[0] % 2 == 0) {
        tp_pickle p;
        if (tp_load(data + 1, size - 1, &p, &err) == 0) tp_free(&p);
        else if (!err.msg[0]) abort();
    } else {
        ic_import_limits lim = {.max_total = 64u << 20, .max_entry = 16u << 20};
        ic_torch_state s;
        if (ic_torch_read(data + 1, size - 1, &lim, &s, &err) == 0) ic_torch_state_free(&s);
        else if (!err.msg[0]) abort();
    }
    return 0;
}
