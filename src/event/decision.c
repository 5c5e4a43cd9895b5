/* decision.c: the Avro binary of a pricing decision, written by hand for the audit path (about
 * a tenth of libavro's generic-value cost). The field order and types are those of
 * schemas/pricing_decision.avsc; a unit test decodes the output with libavro against it. */
#include "event.h"

#include <string.h>

/* Avro long: zig-zag, then base-128 varint, low groups first. */
void event_avro_put_long(buf *o, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char tmp[10];
    int n = 0;
    while (z >= 0x80) {
        tmp[n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (unsigned char)z;
    buf_append(o, tmp, (size_t)n);
}

void event_avro_put_string(buf *o, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    event_avro_put_long(o, (int64_t)n);
    if (n) buf_append(o, s, n);
}

/* Avro double: 8 bytes, IEEE 754, little-endian. */
void event_avro_put_double(buf *o, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(bits >> (8 * i));
    buf_append(o, b, 8);
}

void event_encode_pricing_decision(const event_pricing_decision *d, buf *out)
{
    event_avro_put_long(out, 0); /* the topic union's branch: PricingDecision */
    event_avro_put_string(out, d->request_id);
    event_avro_put_string(out, d->trace_id);
    event_avro_put_long(out, d->timestamp_ms);
    event_avro_put_string(out, d->region_id);
    event_avro_put_string(out, d->product_type);
    if (d->user_id && d->user_id[0]) {
        event_avro_put_long(out, 1); /* ["null", "string"]: branch 1 */
        event_avro_put_string(out, d->user_id);
    } else {
        event_avro_put_long(out, 0);
    }
    event_avro_put_double(out, d->price);
    event_avro_put_double(out, d->base_price);
    event_avro_put_double(out, d->surge_multiplier);
    event_avro_put_double(out, d->demand_score);
    event_avro_put_double(out, d->confidence);
    if (d->factor_count > 0) {
        event_avro_put_long(out, d->factor_count); /* one map block, then the empty block */
        for (int i = 0; i < d->factor_count; i++) {
            event_avro_put_string(out, d->factor_names[i]);
            event_avro_put_double(out, d->factor_values[i]);
        }
    }
    event_avro_put_long(out, 0);
    event_avro_put_string(out, d->guardrails_json ? d->guardrails_json : "");
    event_avro_put_string(out, d->model_version);
    event_avro_put_long(out, d->rule_id);
    buf_putc(out, d->cached ? 1 : 0);
}
