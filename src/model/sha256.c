/* sha256.c: the content address of model artifacts (core's SHA-256). */
#include "model/model.h"

void model_sha256_hex(const void *data, size_t len, char out[MODEL_SHA256_HEX])
{
    sha256_hex(data, len, out);
}
